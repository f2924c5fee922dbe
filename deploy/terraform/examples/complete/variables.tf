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

variable "quarantine_retention_days" {
  description = "Days quarantine records are kept in a created bucket (they may hold personal data); null keeps them."
  type        = number
  default     = 30
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

variable "enable_lambda" {
  description = "Create the Lambda runner (function, role, log group, SQS event source mapping). See docs/LAMBDA.md."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Zip holding the binary as `bootstrap` (target/lambda/s3-event-writer/bootstrap.zip). Required with enable_lambda."
  type        = string
  default     = null
}

variable "lambda_mapping_enabled" {
  description = "Let the SQS event source mapping invoke the function. Enable after a last hourly drain."
  type        = bool
  default     = false
}

variable "lambda_memory_size_mb" {
  description = "Memory of the function in MB."
  type        = number
  default     = 512
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the function (a created queue's visibility timeout becomes at least 6 times this)."
  type        = number
  default     = 120
}

variable "lambda_batch_size" {
  description = "Most messages per invocation (up to 10000)."
  type        = number
  default     = 1000
}

variable "lambda_maximum_batching_window_seconds" {
  description = "Seconds the mapping gathers messages before invoking (must be > 0 with a batch size over 10)."
  type        = number
  default     = 30
}

variable "lambda_maximum_concurrency" {
  description = "Most concurrent invocations the mapping starts (at least 2)."
  type        = number
  default     = 4
}

variable "lambda_log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 30
}

variable "enable_alarms" {
  description = "Create the CloudWatch alarms and their SNS topic (docs/DEPLOY.md, Alarms)."
  type        = bool
  default     = true
}

variable "enable_heartbeat_alarm" {
  description = "Alarm when the hourly job has had no successful run for 3 hours. Set false once the Lambda function alone drains (lambda_mapping_enabled and the hourly workflow disabled)."
  type        = bool
  default     = true
}

variable "alarm_email_addresses" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arns" {
  description = "Existing SNS topics the alarms also notify."
  type        = list(string)
  default     = []
}

variable "alarm_queue_age_threshold_seconds" {
  description = "Alarm when the oldest queued message is older than this (default 2 h)."
  type        = number
  default     = 7200
}

variable "dead_letter_queue_arn" {
  description = "Dead-letter queue of an existing queue (create_queue = false), for its alarm and the operator's redrive."
  type        = string
  default     = null
}

variable "operator_role_names" {
  description = "Roles the operator policy (requeue, quarantine, redrive) is attached to."
  type        = list(string)
  default     = []
}
