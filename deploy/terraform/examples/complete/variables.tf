variable "region" {
  description = "Region of the queue (and of the bucket when created)."
  type        = string
  default     = "us-west-2"
}

variable "github_repository" {
  description = "Repository running .github/workflows/hourly.yml, as owner/name."
  type        = string
}

variable "bucket_name" {
  description = "Bucket of the day files."
  type        = string
  default     = "logpublish"
}

variable "queue_name" {
  description = "Name of the SQS queue to create or to look up."
  type        = string
  default     = "s3-event-writer"
}

variable "queue_arn" {
  description = "ARN of an existing queue (takes precedence over queue_name when create_queue = false)."
  type        = string
  default     = null
}

variable "create_queue" {
  description = "Create the queue and its dead-letter queue."
  type        = bool
  default     = false
}

variable "create_bucket" {
  description = "Create and harden the bucket."
  type        = bool
  default     = false
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub OIDC provider (only if the account does not have it yet)."
  type        = bool
  default     = false
}

variable "create_manual_user" {
  description = "Create an IAM user and group for manual runs."
  type        = bool
  default     = false
}

variable "sns_topic_arns" {
  description = "SNS topics allowed to send to a created queue."
  type        = list(string)
  default     = []
}
