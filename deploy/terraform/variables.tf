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

variable "deny_queue_arns" {
  description = "Queues the writer policy explicitly denies (sqs:*), which wins over any Allow attached to the same role: a shadow deployment names the production queue here (examples/shadow). Must not hold the drained queue."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.deny_queue_arns : can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", arn))])
    error_message = "Each of deny_queue_arns must look like arn:aws:sqs:REGION:ACCOUNT:NAME."
  }
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

variable "quarantine_retention_days" {
  description = "Days after which quarantine records (objects under quarantine_prefix) expire in a created bucket; they may hold personal data (docs/PERSONAL-DATA.md). null keeps them until deleted by hand. For an existing bucket, add the rule yourself."
  type        = number
  default     = 30

  validation {
    condition     = var.quarantine_retention_days == null ? true : var.quarantine_retention_days >= 1
    error_message = "quarantine_retention_days must be at least 1, or null to keep quarantine records."
  }
}

variable "read_only_prefixes" {
  description = "Key prefixes (ending with '/') the writer may read (s3:GetObject, and list with the others) but never write: the policy denies every other action on them. A shadow deployment reads the production day files here for `compare` (examples/shadow). They must not overlap day_prefix or quarantine_prefix."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.read_only_prefixes : can(regex("^[^/*?][^*?]*/$", p))])
    error_message = "Each of read_only_prefixes must be non-empty, must not start with '/', must end with '/' and contain no wildcard."
  }
}

variable "restrict_list_bucket_to_prefixes" {
  description = "Limit s3:ListBucket with an s3:prefix condition to the day and quarantine prefixes (and read_only_prefixes). Keep true; set false only if `s3-event-writer doctor` reports 403 instead of 404 for a missing day file."
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

# ---------------------------------------------------------------------------
# Lambda runner (optional, lambda.tf; see docs/LAMBDA.md)
# ---------------------------------------------------------------------------

variable "enable_lambda" {
  description = "Create the Lambda function (`s3-event-writer lambda`, provided.al2023 on arm64), its execution role, its log group and the SQS event source mapping. Needs lambda_zip_path."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Path of the deployment zip holding the release binary named `bootstrap` (e.g. target/lambda/s3-event-writer/bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip`). Required with enable_lambda."
  type        = string
  default     = null
}

variable "lambda_mapping_enabled" {
  description = "Enable the SQS event source mapping. Default false: deploy the function first, drain once more with the hourly job, then enable (docs/LAMBDA.md)."
  type        = bool
  default     = false
}

variable "lambda_memory_size_mb" {
  description = "Memory of the function in MB (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.lambda_memory_size_mb >= 128 && var.lambda_memory_size_mb <= 10240
    error_message = "lambda_memory_size_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Function timeout. With enable_lambda, a queue created by the module gets a visibility timeout of at least 6 times this; set an existing queue's yourself."
  type        = number
  default     = 120

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 1 and 900."
  }
}

variable "lambda_ephemeral_storage_mb" {
  description = "Size of /tmp in MB. The writer spools merged day files over 8 MiB there before the upload, so keep it above the largest day file."
  type        = number
  default     = 512

  validation {
    condition     = var.lambda_ephemeral_storage_mb >= 512 && var.lambda_ephemeral_storage_mb <= 10240
    error_message = "lambda_ephemeral_storage_mb must be between 512 and 10240."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the function. null = none reserved (the mapping's lambda_maximum_concurrency already bounds it)."
  type        = number
  default     = null
}

variable "lambda_batch_size" {
  description = "Most SQS messages per invocation (1..10000). Larger batches merge more events per day-file write. Over 10 needs lambda_maximum_batching_window_seconds > 0."
  type        = number
  default     = 1000

  validation {
    condition     = var.lambda_batch_size >= 1 && var.lambda_batch_size <= 10000
    error_message = "lambda_batch_size must be between 1 and 10000."
  }
}

variable "lambda_maximum_batching_window_seconds" {
  description = "How long the mapping gathers messages before it invokes the function with a partial batch (0..300)."
  type        = number
  default     = 30

  validation {
    condition     = var.lambda_maximum_batching_window_seconds >= 0 && var.lambda_maximum_batching_window_seconds <= 300
    error_message = "lambda_maximum_batching_window_seconds must be between 0 and 300."
  }
}

variable "lambda_maximum_concurrency" {
  description = "Most concurrent invocations the SQS mapping starts (2..1000). Bounds the contention on today's day file."
  type        = number
  default     = 4

  validation {
    condition     = var.lambda_maximum_concurrency >= 2 && var.lambda_maximum_concurrency <= 1000
    error_message = "lambda_maximum_concurrency must be between 2 and 1000."
  }
}

variable "lambda_tracing_enabled" {
  description = "X-Ray tracing mode Active (true) or PassThrough (false). Active adds xray:PutTraceSegments and xray:PutTelemetryRecords to the role."
  type        = bool
  default     = true
}

variable "lambda_log_level" {
  description = "RUST_LOG of the function."
  type        = string
  default     = "info"
}

variable "lambda_prod_hosts" {
  description = "S3EW_PROD_HOSTS of the function. Empty = the binary's default list (the SPEC's)."
  type        = list(string)
  default     = []
}

variable "lambda_drop_events" {
  description = "S3EW_DROP_EVENTS of the function. Empty = the binary's default list (the SPEC's)."
  type        = list(string)
  default     = []
}

variable "lambda_drop_channels" {
  description = "S3EW_DROP_CHANNELS of the function. Empty = the binary's default list (the SPEC's)."
  type        = list(string)
  default     = []
}

variable "lambda_extra_environment" {
  description = "More environment variables of the function (e.g. S3EW_MAX_ATTEMPTS, S3EW_LOG_FORMAT). They win over the ones the module sets. Put no secret here."
  type        = map(string)
  default     = {}
}

variable "lambda_log_retention_days" {
  description = "Retention of the function's log group /aws/lambda/NAME."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.lambda_log_retention_days)
    error_message = "lambda_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "lambda_log_kms_key_arn" {
  description = "KMS key that encrypts the function's log group. Its key policy must let logs.REGION.amazonaws.com use it. null = CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "lambda_kms_key_arn" {
  description = "KMS key that encrypts the function's environment variables at rest. null = the AWS-managed key of Lambda (the variables hold no secret)."
  type        = string
  default     = null
}

variable "lambda_code_signing_config_arn" {
  description = "Code signing configuration of the function (AWS Signer). null = none."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Alarms (alarms.tf; see docs/DEPLOY.md, "Alarms")
# ---------------------------------------------------------------------------

variable "enable_alarms" {
  description = "Create the CloudWatch alarms: dead-letter queue not empty, oldest message too old, Failures reported, no successful hourly run (with enable_heartbeat_alarm), Lambda errors (with enable_lambda)."
  type        = bool
  default     = true
}

variable "enable_heartbeat_alarm" {
  description = "With enable_alarms, alarm when the hourly job published no SuccessfulRuns for 3 hours (missing data breaches). Keep true while the hourly GitHub Actions job drains; set false for a Lambda-only deployment, whose function publishes no SuccessfulRuns."
  type        = bool
  default     = true
}

variable "create_alarm_topic" {
  description = "Create the SNS topic NAME-alarms (KMS-encrypted) that the alarms notify. false = notify only alarm_topic_arns."
  type        = bool
  default     = true
}

variable "alarm_topic_arns" {
  description = "More SNS topics the alarms notify (e.g. an existing on-call topic). An encrypted one needs a key policy that lets cloudwatch.amazonaws.com use the key."
  type        = list(string)
  default     = []
}

variable "alarm_email_addresses" {
  description = "E-mail addresses subscribed to the created topic. Each gets a confirmation mail and receives nothing until the link in it is followed."
  type        = list(string)
  default     = []
}

variable "alarm_topic_kms_key_arn" {
  description = "KMS key of the created topic. Its policy must let cloudwatch.amazonaws.com call kms:Decrypt and kms:GenerateDataKey*. null = the module creates a key (with rotation) that does."
  type        = string
  default     = null
}

variable "alarm_ok_notifications" {
  description = "Also notify when an alarm returns to OK."
  type        = bool
  default     = true
}

variable "alarm_queue_age_threshold_seconds" {
  description = "Alarm when the queue's oldest message has waited longer than this for 15 minutes. Default 2 h: two hourly runs missed. Keep it above the schedule's period plus GitHub's start delays."
  type        = number
  default     = 7200

  validation {
    condition     = var.alarm_queue_age_threshold_seconds >= 300
    error_message = "alarm_queue_age_threshold_seconds must be at least 300."
  }
}

variable "dead_letter_queue_arn" {
  description = "ARN of the existing queue's dead-letter queue (create_queue = false), for the dead-letter alarm and the operator's redrive permission. A created queue's DLQ is used without it."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.dead_letter_queue_arn))
    error_message = "dead_letter_queue_arn must look like arn:aws:sqs:REGION:ACCOUNT:NAME."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the writer's metrics (the hourly job's published run totals and the Lambda function's EMF records), for the Failures and heartbeat alarms; the GitHub role may put metrics into this namespace only."
  type        = string
  default     = "s3-event-writer"
}

variable "metrics_dimensions" {
  description = "Dimensions of the Failures metric the alarm watches. They must be exactly the dimensions the writer's EMF records carry; {} = the metric without dimensions."
  type        = map(string)
  default     = {}
}

variable "alarm_failures_period_seconds" {
  description = "Period of the Failures and Lambda errors alarms. The default, an hour, makes consecutive periods consecutive hourly runs (each publishes its Failures once); a Lambda-only deployment may lower it to 900."
  type        = number
  default     = 3600

  validation {
    condition     = var.alarm_failures_period_seconds >= 60 && var.alarm_failures_period_seconds % 60 == 0
    error_message = "alarm_failures_period_seconds must be a multiple of 60."
  }
}

variable "alarm_failures_evaluation_periods" {
  description = "Consecutive periods with Failures (or Lambda errors) > 0 before the alarm fires: one failed run or delivery that the next one fixes is not worth a page."
  type        = number
  default     = 2

  validation {
    condition     = var.alarm_failures_evaluation_periods >= 1
    error_message = "alarm_failures_evaluation_periods must be at least 1."
  }
}

# ---------------------------------------------------------------------------
# Operator policy (operator.tf; see docs/DEPLOY.md)
# ---------------------------------------------------------------------------

variable "create_operator_policy" {
  description = "Create the policy NAME-operator: requeue into the queue, list, read and delete quarantine objects, redrive the dead-letter queue."
  type        = bool
  default     = true
}

variable "operator_role_names" {
  description = "IAM roles (e.g. an IAM Identity Center permission set's role) the operator policy is attached to."
  type        = list(string)
  default     = []
}

variable "operator_group_names" {
  description = "IAM groups the operator policy is attached to."
  type        = list(string)
  default     = []
}

variable "attach_operator_policy_to_manual_group" {
  description = "Also attach the operator policy to the group NAME-operators of the manual user (create_manual_user)."
  type        = bool
  default     = false
}
