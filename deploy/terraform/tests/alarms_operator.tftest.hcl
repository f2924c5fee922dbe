# terraform test (plans only, AWS mocked): which alarms (the heartbeat too),
# topic, key and operator policy the module creates for each documented setting (docs/DEPLOY.md,
# "Alarms" and "The operator policy"). Run by scripts/lint-deploy.sh when
# terraform can install the AWS provider.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_sqs_queue" {
    override_during = plan
    defaults        = { arn = "arn:aws:sqs:us-west-2:123456789012:events-dlq" }
  }
  mock_resource "aws_sns_topic" {
    override_during = plan
    defaults        = { arn = "arn:aws:sns:us-west-2:123456789012:s3-event-writer-alarms" }
  }
}

variables {
  bucket_name              = "logpublish"
  github_repository        = "owner/s3-event-writer"
  github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  queue_arn                = "arn:aws:sqs:us-west-2:123456789012:events"
}

run "defaults_on_an_existing_queue" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.queue_oldest_message) == 1 && length(aws_cloudwatch_metric_alarm.failures) == 1
    error_message = "the age and Failures alarms are on by default"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.dlq_not_empty) == 0 && length(aws_cloudwatch_metric_alarm.lambda_errors) == 0
    error_message = "no DLQ alarm without a known DLQ, no Lambda alarm without enable_lambda"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.queue_oldest_message[0].dimensions.QueueName == "events" && aws_cloudwatch_metric_alarm.queue_oldest_message[0].threshold == 7200 && aws_cloudwatch_metric_alarm.queue_oldest_message[0].treat_missing_data == "ignore"
    error_message = "the age alarm watches the queue with a 2 h threshold and keeps its state without data"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failures[0].namespace == "s3-event-writer" && aws_cloudwatch_metric_alarm.failures[0].metric_name == "Failures" && aws_cloudwatch_metric_alarm.failures[0].evaluation_periods == 2 && aws_cloudwatch_metric_alarm.failures[0].period == 3600
    error_message = "Failures > 0 in 2 consecutive hours (two hourly runs)"
  }
  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.heartbeat) == 1 &&
      aws_cloudwatch_metric_alarm.heartbeat[0].namespace == "s3-event-writer" &&
      aws_cloudwatch_metric_alarm.heartbeat[0].metric_name == "SuccessfulRuns" &&
      aws_cloudwatch_metric_alarm.heartbeat[0].dimensions == null &&
      aws_cloudwatch_metric_alarm.heartbeat[0].statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.heartbeat[0].comparison_operator == "LessThanThreshold" &&
      aws_cloudwatch_metric_alarm.heartbeat[0].threshold == 1 &&
      aws_cloudwatch_metric_alarm.heartbeat[0].period == 3600 &&
      aws_cloudwatch_metric_alarm.heartbeat[0].evaluation_periods == 3 &&
      aws_cloudwatch_metric_alarm.heartbeat[0].datapoints_to_alarm == 3 &&
      aws_cloudwatch_metric_alarm.heartbeat[0].treat_missing_data == "breaching"
    )
    error_message = "the heartbeat is on by default: SuccessfulRuns (no dimensions) summed < 1 in each of 3 consecutive hours, missing data breaching"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.heartbeat[0].alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && aws_cloudwatch_metric_alarm.heartbeat[0].ok_actions == toset([aws_sns_topic.alarms[0].arn])
    error_message = "the heartbeat notifies the topic, also when it clears"
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 1 && length(aws_kms_key.alarms) == 1 && aws_kms_key.alarms[0].enable_key_rotation
    error_message = "a topic and its rotating customer-managed key"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failures[0].alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && aws_cloudwatch_metric_alarm.failures[0].ok_actions == toset([aws_sns_topic.alarms[0].arn])
    error_message = "alarms notify the topic, also when they clear"
  }
  assert {
    condition     = length(aws_iam_policy.operator) == 1 && length(aws_iam_role_policy_attachment.operator) == 0 && length(aws_iam_group_policy_attachment.operator_manual) == 0
    error_message = "the operator policy exists and is attached to nothing by default"
  }
}

run "existing_dead_letter_queue_email_and_own_key" {
  command = plan

  variables {
    dead_letter_queue_arn   = "arn:aws:sqs:us-west-2:123456789012:events-dlq"
    alarm_email_addresses   = ["oncall@example.org", "ops@example.org"]
    alarm_topic_kms_key_arn = "arn:aws:kms:us-west-2:123456789012:key/alarms"
    operator_role_names     = ["operators"]
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_not_empty[0].dimensions.QueueName == "events-dlq" && aws_cloudwatch_metric_alarm.dlq_not_empty[0].threshold == 0
    error_message = "the DLQ alarm watches the named dead-letter queue"
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alarm_email) == 2 && length(aws_kms_key.alarms) == 0 && aws_sns_topic.alarms[0].kms_master_key_id == "arn:aws:kms:us-west-2:123456789012:key/alarms"
    error_message = "one subscription per address; the given key instead of a new one"
  }
  assert {
    condition     = length(aws_iam_role_policy_attachment.operator) == 1
    error_message = "the operator policy is attached to the named role"
  }
}

run "created_queue_lambda_and_topics_passed_in" {
  command = plan

  variables {
    queue_arn          = null
    create_queue       = true
    queue_name         = "events"
    enable_lambda      = true
    lambda_zip_path    = "tests/alarms_operator.tftest.hcl"
    create_alarm_topic = false
    alarm_topic_arns   = ["arn:aws:sns:us-west-2:123456789012:oncall"]

    enable_heartbeat_alarm = false
    metrics_namespace      = "writer/lambda"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.heartbeat) == 0 && aws_cloudwatch_metric_alarm.failures[0].namespace == "writer/lambda"
    error_message = "a Lambda-only deployment turns the heartbeat off and keeps the Failures alarm, in its namespace"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.dlq_not_empty) == 1 && length(aws_cloudwatch_metric_alarm.lambda_errors) == 1
    error_message = "a created queue brings its DLQ alarm; enable_lambda its errors alarm"
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && length(aws_kms_key.alarms) == 0 && aws_cloudwatch_metric_alarm.lambda_errors[0].alarm_actions == toset(["arn:aws:sns:us-west-2:123456789012:oncall"])
    error_message = "without create_alarm_topic only the topics passed in are notified"
  }
}

run "everything_off" {
  command = plan

  variables {
    enable_alarms          = false
    create_operator_policy = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.failures) == 0 && length(aws_cloudwatch_metric_alarm.queue_oldest_message) == 0 && length(aws_cloudwatch_metric_alarm.heartbeat) == 0 && length(aws_sns_topic.alarms) == 0 && length(aws_kms_key.alarms) == 0 && length(aws_iam_policy.operator) == 0
    error_message = "enable_alarms = false and create_operator_policy = false create nothing"
  }
}
