# A shadow deployment (docs/DEPLOY.md, "Shadow deployment"): a second queue
# subscribed to the topic that feeds production, drained by the hourly job in
# shadow mode (S3EW_STAGE = shadow) into events/shadow/, while production's
# writer, the legacy job or this program, keeps events/prod/. `compare` then
# reads both. The shadow role:
#   - drains only the shadow queue, and is denied every action on the
#     production queue;
#   - writes only under the shadow prefixes;
#   - reads events/prod/ with s3:GetObject and is denied everything else there.
# The explicit denies hold whatever else is ever attached to the role.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "s3-event-writer"
      Stage     = "shadow"
      ManagedBy = "terraform"
    }
  }
}

locals {
  production_queue_name = element(split(":", var.production_queue_arn), 5)
}

module "shadow" {
  source = "../.."

  name        = var.name
  bucket_name = var.bucket_name

  day_prefix         = var.shadow_day_prefix
  quarantine_prefix  = var.shadow_quarantine_prefix
  read_only_prefixes = [var.production_day_prefix]

  # Its own queue and dead-letter queue: redrive after 5 receives, 14 days'
  # retention, SQS-managed encryption, a queue policy that lets the topic send.
  create_queue            = true
  queue_name              = var.queue_name
  queue_max_receive_count = 5
  sns_topic_arns          = [var.sns_topic_arn]
  deny_queue_arns         = [var.production_queue_arn]

  create_bucket = false # production's bucket

  github_repository           = var.github_repository
  github_branches             = var.github_branches
  create_github_oidc_provider = var.create_github_oidc_provider

  # The shadow job's run totals go to their own namespace, so that they never
  # feed production's alarms; the role may publish into it only.
  metrics_namespace      = var.metrics_namespace
  enable_alarms          = var.enable_alarms
  enable_heartbeat_alarm = var.enable_alarms
  alarm_email_addresses  = var.alarm_email_addresses
  create_operator_policy = false
}

# The same topic, the same delivery as production's subscription: raw delivery
# changes what the writer reads (the envelope's Timestamp is a fallback), and a
# filter policy changes which events arrive.
resource "aws_sns_topic_subscription" "shadow" {
  topic_arn            = var.sns_topic_arn
  protocol             = "sqs"
  endpoint             = module.shadow.queue_arn
  raw_message_delivery = var.raw_message_delivery
  filter_policy        = var.filter_policy

  lifecycle {
    precondition {
      condition     = var.queue_name != local.production_queue_name
      error_message = "queue_name ${var.queue_name} is the production queue's name: the shadow stack would take over the production queue."
    }
  }
}
