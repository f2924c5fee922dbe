output "writer_policy_arn" {
  description = "ARN of the least-privilege writer policy."
  value       = aws_iam_policy.writer.arn
}

output "writer_policy_json" {
  description = "The writer policy document (JSON), for review and for the acceptance check's --writer-policy FILE (terraform output -raw writer_policy_json > writer-policy.json)."
  value       = data.aws_iam_policy_document.writer.json
}

output "github_metrics_policy_json" {
  description = "The GitHub role's inline policy NAME-metrics (cloudwatch:PutMetricData into metrics_namespace only), for review."
  value       = one(data.aws_iam_policy_document.github_metrics[*].json)
}

output "role_arn" {
  description = "Role for GitHub Actions: set it as the repository variable WRITER_ROLE_ARN."
  value       = one(aws_iam_role.github[*].arn)
}

output "github_oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider the role trusts."
  value       = local.github_oidc_provider_arn
}

output "github_subjects" {
  description = "OIDC sub claims the role accepts."
  value       = local.github_subjects
}

output "queue_arn" {
  description = "ARN of the drained queue."
  value       = local.queue_arn
}

output "queue_url" {
  description = "URL of the drained queue: set it as the repository variable QUEUE_URL."
  value       = local.queue_url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue (created queue only)."
  value       = one(aws_sqs_queue.dlq[*].arn)
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (created queue only)."
  value       = one(aws_sqs_queue.dlq[*].url)
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = local.bucket_arn
}

output "dest" {
  description = "Value for --dest / S3EW_DEST (repository variable S3EW_DEST)."
  value       = "s3://${var.bucket_name}/${var.day_prefix}"
}

output "quarantine" {
  description = "Value for --quarantine / S3EW_QUARANTINE."
  value       = "s3://${var.bucket_name}/${var.quarantine_prefix}"
}

output "manual_user_name" {
  description = "IAM user for manual runs (create_manual_user only)."
  value       = one(aws_iam_user.manual[*].name)
}

output "manual_group_name" {
  description = "IAM group holding the writer policy for manual runs (create_manual_user only)."
  value       = one(aws_iam_group.manual[*].name)
}

output "lambda_function_name" {
  description = "Name of the Lambda function (enable_lambda only)."
  value       = one(aws_lambda_function.this[*].function_name)
}

output "lambda_function_arn" {
  description = "ARN of the Lambda function (enable_lambda only)."
  value       = one(aws_lambda_function.this[*].arn)
}

output "lambda_role_arn" {
  description = "Execution role of the Lambda function (enable_lambda only)."
  value       = one(aws_iam_role.lambda[*].arn)
}

output "lambda_log_group_name" {
  description = "CloudWatch Logs group of the Lambda function (enable_lambda only)."
  value       = one(aws_cloudwatch_log_group.lambda[*].name)
}

output "lambda_event_source_mapping_uuid" {
  description = "UUID of the SQS event source mapping (enable_lambda only), for `aws lambda update-event-source-mapping --uuid`."
  value       = one(aws_lambda_event_source_mapping.sqs[*].uuid)
}

output "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of a queue created by the module (raised to 6 x lambda_timeout_seconds with enable_lambda)."
  value       = one(aws_sqs_queue.main[*].visibility_timeout_seconds)
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify (enable_alarms and create_alarm_topic only); subscribe on-call tools to it."
  value       = one(aws_sns_topic.alarms[*].arn)
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms created."
  value = concat(
    aws_cloudwatch_metric_alarm.dlq_not_empty[*].alarm_name,
    aws_cloudwatch_metric_alarm.queue_oldest_message[*].alarm_name,
    aws_cloudwatch_metric_alarm.failures[*].alarm_name,
    aws_cloudwatch_metric_alarm.heartbeat[*].alarm_name,
    aws_cloudwatch_metric_alarm.lambda_errors[*].alarm_name,
  )
}

output "operator_policy_arn" {
  description = "ARN of the operator policy (create_operator_policy only)."
  value       = one(aws_iam_policy.operator[*].arn)
}

output "operator_policy_json" {
  description = "The operator policy document, for review."
  value       = one(data.aws_iam_policy_document.operator[*].json)
}
