# ---------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------

variable "name" {
  description = "Base name for the IAM policy, role, group and user (and the queues when created)."
  type        = string
  default     = "s3-event-writer"
}

variable "tags" {
  description = "Tags added to every resource that supports them."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# SQS queue
# ---------------------------------------------------------------------------

variable "create_queue" {
  description = "Create the SQS queue (with a dead-letter queue and redrive policy). Leave false for an existing install and give queue_arn or queue_name."
  type        = bool
  default     = false
}

variable "queue_name" {
  description = "Name of the queue. Used to create it (create_queue = true) or, when queue_arn is null, to look up an existing queue in the provider's account and region."
  type        = string
  default     = null
}

variable "queue_arn" {
  description = "ARN of an existing queue (create_queue = false). Takes precedence over queue_name."
  type        = string
  default     = null

  validation {
    condition     = var.queue_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.queue_arn))
    error_message = "queue_arn must look like arn:aws:sqs:REGION:ACCOUNT:NAME."
  }
}

variable "queue_kms_key_arn" {
  description = "KMS key ARN the queue is (or, when created, will be) encrypted with. Adds kms:Decrypt on this key to the writer policy. null = SQS-managed SSE for created queues and no KMS permission."
  type        = string
  default     = null
}

variable "queue_max_receive_count" {
  description = "Receives before a message is moved to the dead-letter queue (created queue only)."
  type        = number
  default     = 5

  validation {
    condition     = var.queue_max_receive_count >= 1 && var.queue_max_receive_count <= 1000
    error_message = "queue_max_receive_count must be between 1 and 1000."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the created queue. The writer extends it with ChangeMessageVisibility while it works."
  type        = number
  default     = 300
}

variable "queue_message_retention_seconds" {
  description = "Retention of the created queue and its dead-letter queue (default 14 days, the SQS maximum, so a long outage loses nothing)."
  type        = number
  default     = 1209600
}

variable "sns_topic_arns" {
  description = "SNS topics allowed to send to the created queue (queue policy with aws:SourceArn). Subscribing the queue to the topic is left to the topic's owner."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# S3 bucket
# ---------------------------------------------------------------------------

variable "bucket_name" {
  description = "Bucket holding the day files and the quarantine objects (e.g. logpublish)."
  type        = string
}

variable "create_bucket" {
  description = "Create and harden the bucket (versioning, default encryption, public access block, BucketOwnerEnforced, lifecycle aborting incomplete multipart uploads). Leave false for an existing bucket."
  type        = bool
  default     = false
}

variable "day_prefix" {
  description = "Key prefix of the day files (objects PREFIX + YYYYMMDD). Must end with '/'."
  type        = string
  default     = "events/prod/"

  validation {
    condition     = can(regex("^[^/*?].*/$", var.day_prefix))
    error_message = "day_prefix must be non-empty, must not start with '/', must end with '/' and contain no wildcard."
  }
}

variable "quarantine_prefix" {
  description = "Key prefix of the quarantine objects. Must end with '/'."
  type        = string
  default     = "events/quarantine/"

  validation {
    condition     = can(regex("^[^/*?].*/$", var.quarantine_prefix))
    error_message = "quarantine_prefix must be non-empty, must not start with '/', must end with '/' and contain no wildcard."
  }
}

variable "restrict_list_bucket_to_prefixes" {
  description = "Limit s3:ListBucket with an s3:prefix condition to the two prefixes. Keep true; set false only if `s3-event-writer doctor` reports 403 instead of 404 for a missing day file."
  type        = bool
  default     = true
}

variable "bucket_kms_key_arn" {
  description = "KMS key used for the bucket's default encryption (SSE-KMS). When set, the writer policy gets kms:GenerateDataKey and kms:Decrypt on it, and a created bucket uses it. null = SSE-S3 (AES256) for a created bucket."
  type        = string
  default     = null
}

variable "bucket_noncurrent_version_expiration_days" {
  description = "Days after which non-current versions of objects in a created bucket expire (versioning keeps each overwritten day file until then)."
  type        = number
  default     = 90
}

variable "bucket_access_log_bucket" {
  description = "Target bucket for S3 server access logs of a created bucket. null = no access logging."
  type        = string
  default     = null
}

variable "bucket_access_log_prefix" {
  description = "Key prefix for the server access logs."
  type        = string
  default     = "s3-access-logs/logpublish/"
}

# ---------------------------------------------------------------------------
# GitHub Actions (OIDC)
# ---------------------------------------------------------------------------

variable "github_repository" {
  description = "Repository whose workflows may assume the role, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_branches" {
  description = "Branches whose runs may assume the role (sub = repo:OWNER/NAME:ref:refs/heads/BRANCH). Scheduled runs use the default branch."
  type        = list(string)
  default     = ["main"]
}

variable "github_environments" {
  description = "GitHub environments whose jobs may assume the role (sub = repo:OWNER/NAME:environment:NAME). A job that names an environment presents this subject instead of the branch one."
  type        = list(string)
  default     = []
}

variable "create_github_role" {
  description = "Create the IAM role assumed by GitHub Actions through OIDC."
  type        = bool
  default     = true
}

variable "create_github_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider. An account can hold it only once: leave false when it exists and give github_oidc_provider_arn or let the module look it up."
  type        = bool
  default     = false
}

variable "github_oidc_provider_arn" {
  description = "ARN of the existing GitHub OIDC provider. null with create_github_oidc_provider = false = look it up by its URL."
  type        = string
  default     = null
}

variable "role_max_session_duration" {
  description = "Maximum session length of the role in seconds (an hourly run must finish within it)."
  type        = number
  default     = 3600
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the role and the user."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Manual runs
# ---------------------------------------------------------------------------

variable "create_manual_user" {
  description = "Create an IAM user (and a group holding the writer policy) for running the writer by hand. No access key is created. Prefer IAM Identity Center where available."
  type        = bool
  default     = false
}
