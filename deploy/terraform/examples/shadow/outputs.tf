# Named after the repository variables of the workflow's shadow mode
# (docs/DEPLOY.md, "Shadow deployment").

output "SHADOW_WRITER_ROLE_ARN" {
  description = "Repository variable SHADOW_WRITER_ROLE_ARN."
  value       = module.shadow.role_arn
}

output "SHADOW_QUEUE_URL" {
  description = "Repository variable SHADOW_QUEUE_URL."
  value       = module.shadow.queue_url
}

output "SHADOW_S3EW_DEST" {
  description = "Repository variable SHADOW_S3EW_DEST."
  value       = module.shadow.dest
}

output "SHADOW_S3EW_QUARANTINE" {
  description = "Repository variable SHADOW_S3EW_QUARANTINE."
  value       = module.shadow.quarantine
}

output "SHADOW_S3EW_METRICS_NAMESPACE" {
  description = "Repository variable SHADOW_S3EW_METRICS_NAMESPACE."
  value       = var.metrics_namespace
}

output "writer_policy_json" {
  description = "The shadow writer policy, for review."
  value       = module.shadow.writer_policy_json
}

output "github_metrics_policy_json" {
  description = "The shadow role's metrics policy, for review."
  value       = module.shadow.github_metrics_policy_json
}

output "subscription_arn" {
  description = "The shadow queue's subscription to the topic."
  value       = aws_sns_topic_subscription.shadow.arn
}

output "dead_letter_queue_url" {
  description = "The shadow dead-letter queue."
  value       = module.shadow.dead_letter_queue_url
}

output "compare_command" {
  description = "The comparison of the two archives (run with credentials that may read both, e.g. the shadow role's)."
  value       = "s3-event-writer compare s3://${var.bucket_name}/${var.production_day_prefix} ${module.shadow.dest}"
}
