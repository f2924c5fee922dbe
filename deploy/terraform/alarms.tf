# ===========================================================================
# Alarms (enable_alarms, default true): the job has stopped (no successful
# run, oldest message too old), messages are piling up in the dead-letter
# queue, the writer keeps failing, the Lambda function errors. Notifications go to an SNS topic created here (encrypted
# with a customer-managed KMS key that CloudWatch may use, optional e-mail
# subscriptions) and/or to topics passed in. See docs/DEPLOY.md, "Alarms".
# ===========================================================================

locals {
  alarms_count      = var.enable_alarms ? 1 : 0
  alarm_topic_count = var.enable_alarms && var.create_alarm_topic ? 1 : 0
  # The module's own key, unless one is given.
  alarm_kms_key_count = local.alarm_topic_count == 1 && var.alarm_topic_kms_key_arn == null ? 1 : 0

  alarm_actions = concat(aws_sns_topic.alarms[*].arn, var.alarm_topic_arns)

  queue_name = local.queue_arn_parts[5]
  # The dead-letter queue: the module's, or the one named for an existing queue.
  dlq_arn   = try(coalesce(one(aws_sqs_queue.dlq[*].arn), var.dead_letter_queue_arn), null)
  dlq_name  = try(element(split(":", local.dlq_arn), 5), null)
  runbook   = "https://github.com/${var.github_repository}/blob/HEAD/docs/RUNBOOK.md"
  dlq_count = var.enable_alarms && (var.create_queue || var.dead_letter_queue_arn != null) ? 1 : 0
}

# --- topic -------------------------------------------------------------------

data "aws_caller_identity" "current" {}

# CloudWatch can publish to an encrypted topic only when the key's policy lets
# cloudwatch.amazonaws.com use it, which the AWS-managed alias/aws/sns key
# never does: hence a customer-managed key.
data "aws_iam_policy_document" "alarm_key" {
  count = local.alarm_kms_key_count

  statement {
    sid       = "AccountAdministersTheKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchPublishesAlarms"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    # No aws:SourceAccount condition: AWS documents this statement without
    # one, and an alarm that cannot publish fails silently.
  }
}

resource "aws_kms_key" "alarms" {
  count = local.alarm_kms_key_count

  description         = "${var.name}: encrypts the alarm topic ${var.name}-alarms"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.alarm_key[0].json
  tags                = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = local.alarm_kms_key_count

  name          = "alias/${var.name}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count = local.alarm_topic_count

  name              = "${var.name}-alarms"
  display_name      = "${var.name} alarms"
  kms_master_key_id = coalesce(var.alarm_topic_kms_key_arn, one(aws_kms_key.alarms[*].arn))
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = local.alarm_topic_count == 1 ? toset(var.alarm_email_addresses) : toset([])

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value # SNS mails a confirmation link; nothing arrives until it is followed
}

# --- alarms ------------------------------------------------------------------

# SQS publishes queue metrics only while a queue is active, so a dead-letter
# queue nobody touches can fall silent with messages still in it: missing data
# keeps the alarm's state ("ignore") instead of turning it OK.
resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  count = local.dlq_count

  alarm_name        = "${var.name}-dead-letter-queue-not-empty"
  alarm_description = "Messages in ${local.dlq_name}: they reached the redrive policy's maxReceiveCount. Read the latest run's summary, fix the cause, then move them back (aws sqs start-message-move-task --source-arn ${local.dlq_arn}). Runbook: ${local.runbook}#name-dead-letter-queue-not-empty"
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = local.dlq_name
  }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "ignore"
  alarm_actions       = local.alarm_actions
  ok_actions          = var.alarm_ok_notifications ? local.alarm_actions : []
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_oldest_message" {
  count = local.alarms_count

  alarm_name          = "${var.name}-queue-oldest-message-too-old"
  alarm_description   = "The oldest message in ${local.queue_name} has waited over ${var.alarm_queue_age_threshold_seconds} s: the drain has stopped or keeps failing (schedule disabled after 60 days without activity, role or variables changed, red runs). Runbook: ${local.runbook}#name-queue-oldest-message-too-old"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = local.queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_queue_age_threshold_seconds
  treat_missing_data  = "ignore"
  alarm_actions       = local.alarm_actions
  ok_actions          = var.alarm_ok_notifications ? local.alarm_actions : []
  tags                = var.tags
}

# The writer reports Failures (messages left in the queue by a failed write or
# delete): the hourly job publishes each run's totals (`drain --metric-data`,
# then `aws cloudwatch put-metric-data`), the Lambda function prints CloudWatch
# Embedded Metric Format records to its logs. No data means no failure.
resource "aws_cloudwatch_metric_alarm" "failures" {
  count = local.alarms_count

  alarm_name          = "${var.name}-failures"
  alarm_description   = "s3-event-writer reported Failures (hourly runs or Lambda invocations) in ${var.alarm_failures_evaluation_periods} consecutive periods of ${var.alarm_failures_period_seconds} s: a day file or the quarantine cannot be written, or messages cannot be deleted. The failed messages stay in the queue. Read the runs' summaries. Runbook: ${local.runbook}#name-failures"
  namespace           = var.metrics_namespace
  metric_name         = "Failures"
  dimensions          = var.metrics_dimensions
  statistic           = "Sum"
  period              = var.alarm_failures_period_seconds
  evaluation_periods  = var.alarm_failures_evaluation_periods
  datapoints_to_alarm = var.alarm_failures_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = var.alarm_ok_notifications ? local.alarm_actions : []
  tags                = var.tags
}

# The heartbeat: every hourly run that drains with exit status 0 publishes
# SuccessfulRuns 1 (failed runs publish 0, dry runs and runs that cannot start
# nothing). No successful run for three hours, or no data at all, fires it: the
# schedule stopped (GitHub disabled the workflow), the role can no longer be
# assumed, the variables are wrong, or every run fails. The Lambda function
# publishes no SuccessfulRuns: enable_heartbeat_alarm = false there.
resource "aws_cloudwatch_metric_alarm" "heartbeat" {
  count = var.enable_alarms && var.enable_heartbeat_alarm ? 1 : 0

  alarm_name          = "${var.name}-no-successful-run"
  alarm_description   = "No successful hourly run of s3-event-writer (metric SuccessfulRuns in ${var.metrics_namespace}) for 3 hours: the schedule stopped (workflow disabled by GitHub, file off the default branch), the role cannot be assumed, the job's variables are wrong, or every run fails. Open Actions > hourly drain. Runbook: ${local.runbook}#name-no-successful-run"
  namespace           = var.metrics_namespace
  metric_name         = "SuccessfulRuns"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = var.alarm_ok_notifications ? local.alarm_actions : []
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  count = var.enable_alarms && var.enable_lambda ? 1 : 0

  alarm_name          = "${var.name}-lambda-errors"
  alarm_description   = "The function ${var.name} failed whole invocations (crash, timeout, out of memory) in ${var.alarm_failures_evaluation_periods} consecutive periods of ${var.alarm_failures_period_seconds} s; their records go back to the queue. Read /aws/lambda/${var.name}. Runbook: ${local.runbook}#name-lambda-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = one(aws_lambda_function.this[*].function_name) }
  statistic           = "Sum"
  period              = var.alarm_failures_period_seconds
  evaluation_periods  = var.alarm_failures_evaluation_periods
  datapoints_to_alarm = var.alarm_failures_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = var.alarm_ok_notifications ? local.alarm_actions : []
  tags                = var.tags
}
