variable "region" {
  description = "Region of the topic, the shadow queue and the bucket."
  type        = string
  default     = "us-west-2"
}

variable "name" {
  description = "Base name of the shadow stack's policy (NAME-writer), role (NAME-github), queues and alarms. Must differ from production's."
  type        = string
  default     = "s3-event-writer-shadow"
}

variable "github_repository" {
  description = "Repository running .github/workflows/hourly.yml, as owner/name (the same one as production)."
  type        = string
}

variable "github_branches" {
  description = "Branches whose runs may assume the shadow role."
  type        = list(string)
  default     = ["main"]
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub OIDC provider (only if the account does not have it yet; production's stack usually has it)."
  type        = bool
  default     = false
}

variable "bucket_name" {
  description = "Production's bucket: the shadow writes beside the production day files."
  type        = string
  default     = "logpublish"
}

variable "sns_topic_arn" {
  description = "The SNS topic that feeds the production queue (in var.region; a topic of another account must let this one subscribe)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.sns_topic_arn))
    error_message = "sns_topic_arn must look like arn:aws:sns:REGION:ACCOUNT:NAME."
  }
}

variable "raw_message_delivery" {
  description = "Raw message delivery of the shadow subscription. It must be what production's subscription has (aws sns get-subscription-attributes --subscription-arn ARN --query Attributes.RawMessageDelivery); the SPEC's production delivers SNS envelopes: false."
  type        = bool
  default     = false
}

variable "filter_policy" {
  description = "Filter policy (JSON) of the shadow subscription: the one production's subscription has, if any (Attributes.FilterPolicy). null = every message."
  type        = string
  default     = null
}

variable "production_queue_arn" {
  description = "ARN of the production queue: the shadow role is denied every action on it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.production_queue_arn))
    error_message = "production_queue_arn must look like arn:aws:sqs:REGION:ACCOUNT:NAME."
  }
}

variable "production_day_prefix" {
  description = "Prefix of the production day files, which the shadow role may only read (for compare)."
  type        = string
  default     = "events/prod/"
}

variable "queue_name" {
  description = "Name of the shadow queue (its dead-letter queue is NAME-dlq). Must differ from the production queue's."
  type        = string
  default     = "s3-event-writer-shadow"
}

variable "shadow_day_prefix" {
  description = "Prefix of the shadow day files (S3EW_DEST). The workflow's shadow mode needs a path segment `shadow` in it."
  type        = string
  default     = "events/shadow/"

  validation {
    condition     = can(regex("^([^/*?]+/)*shadow/([^/*?]+/)*$", var.shadow_day_prefix))
    error_message = "shadow_day_prefix must end with '/' and have a path segment `shadow` (the workflow's shadow mode refuses any other destination)."
  }
}

variable "shadow_quarantine_prefix" {
  description = "Prefix of the shadow quarantine (S3EW_QUARANTINE), outside production's quarantine so that requeue never sends a shadow record to production. The workflow's shadow mode needs a path segment `shadow` in it."
  type        = string
  default     = "quarantine/shadow/"

  validation {
    condition     = can(regex("^([^/*?]+/)*shadow/([^/*?]+/)*$", var.shadow_quarantine_prefix))
    error_message = "shadow_quarantine_prefix must end with '/' and have a path segment `shadow` (the workflow's shadow mode refuses any other destination)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the shadow job's run totals (repository variable SHADOW_S3EW_METRICS_NAMESPACE)."
  type        = string
  default     = "s3-event-writer-shadow"
}

variable "enable_alarms" {
  description = "The module's alarms for the shadow queue and job, heartbeat included, on their own topic NAME-alarms."
  type        = bool
  default     = true
}

variable "alarm_email_addresses" {
  description = "E-mail addresses subscribed to the shadow alarm topic."
  type        = list(string)
  default     = []
}
