provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "s3-event-writer"
      ManagedBy = "terraform"
    }
  }
}

module "s3_event_writer" {
  source = "../.."

  bucket_name       = var.bucket_name
  day_prefix        = "events/prod/"
  quarantine_prefix = "events/quarantine/"

  create_queue            = var.create_queue
  queue_name              = var.queue_name
  queue_arn               = var.queue_arn
  queue_max_receive_count = 5
  sns_topic_arns          = var.sns_topic_arns

  create_bucket             = var.create_bucket
  quarantine_retention_days = var.quarantine_retention_days

  github_repository           = var.github_repository
  github_branches             = ["main"]
  create_github_oidc_provider = var.create_github_oidc_provider

  create_manual_user = var.create_manual_user

  # Lambda runner (docs/LAMBDA.md), off unless enable_lambda = true.
  enable_lambda                          = var.enable_lambda
  lambda_zip_path                        = var.lambda_zip_path
  lambda_mapping_enabled                 = var.lambda_mapping_enabled
  lambda_memory_size_mb                  = var.lambda_memory_size_mb
  lambda_timeout_seconds                 = var.lambda_timeout_seconds
  lambda_batch_size                      = var.lambda_batch_size
  lambda_maximum_batching_window_seconds = var.lambda_maximum_batching_window_seconds
  lambda_maximum_concurrency             = var.lambda_maximum_concurrency
  lambda_log_retention_days              = var.lambda_log_retention_days

  # Alarms to the topic NAME-alarms (docs/DEPLOY.md, "Alarms"), and the
  # operator policy for requeue, the quarantine and the dead-letter queue.
  enable_alarms                          = var.enable_alarms
  enable_heartbeat_alarm                 = var.enable_heartbeat_alarm
  alarm_email_addresses                  = var.alarm_email_addresses
  alarm_topic_arns                       = var.alarm_topic_arns
  alarm_queue_age_threshold_seconds      = var.alarm_queue_age_threshold_seconds
  dead_letter_queue_arn                  = var.dead_letter_queue_arn
  operator_role_names                    = var.operator_role_names
  attach_operator_policy_to_manual_group = var.create_manual_user
}
