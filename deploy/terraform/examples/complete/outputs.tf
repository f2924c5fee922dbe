output "WRITER_ROLE_ARN" {
  description = "Repository variable WRITER_ROLE_ARN."
  value       = module.s3_event_writer.role_arn
}

output "QUEUE_URL" {
  description = "Repository variable QUEUE_URL."
  value       = module.s3_event_writer.queue_url
}

output "S3EW_DEST" {
  description = "Repository variable S3EW_DEST."
  value       = module.s3_event_writer.dest
}

output "S3EW_QUARANTINE" {
  description = "Value for --quarantine / S3EW_QUARANTINE."
  value       = module.s3_event_writer.quarantine
}

output "AWS_REGION" {
  description = "Repository variable AWS_REGION."
  value       = var.region
}

output "writer_policy_json" {
  description = "The writer policy, for review."
  value       = module.s3_event_writer.writer_policy_json
}

output "LAMBDA_FUNCTION_NAME" {
  description = "Name of the Lambda function (enable_lambda only)."
  value       = module.s3_event_writer.lambda_function_name
}

output "LAMBDA_EVENT_SOURCE_MAPPING_UUID" {
  description = "UUID of the SQS event source mapping (enable_lambda only)."
  value       = module.s3_event_writer.lambda_event_source_mapping_uuid
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.s3_event_writer.alarm_topic_arn
}

output "operator_policy_arn" {
  description = "Policy for the people who requeue, read the quarantine and redrive the dead-letter queue."
  value       = module.s3_event_writer.operator_policy_arn
}
