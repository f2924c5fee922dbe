data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  # --- queue ---------------------------------------------------------------
  # null only when no queue is given; the precondition on the writer policy
  # document then reports it.
  queue_arn = try(coalesce(
    one(aws_sqs_queue.main[*].arn),
    var.queue_arn,
    one(data.aws_sqs_queue.existing[*].arn),
  ), null)
  queue_arn_parts = split(":", coalesce(local.queue_arn, "arn:aws:sqs:region:account:name"))
  queue_url = try(coalesce(
    one(aws_sqs_queue.main[*].url),
    one(data.aws_sqs_queue.existing[*].url),
    "https://sqs.${local.queue_arn_parts[3]}.amazonaws.com/${local.queue_arn_parts[4]}/${local.queue_arn_parts[5]}",
  ), null)

  # --- bucket --------------------------------------------------------------
  bucket_arn = "arn:${local.partition}:s3:::${var.bucket_name}"
  prefixes   = distinct([var.day_prefix, var.quarantine_prefix])
  # Pairs (written prefix, read-only prefix) where one covers the other: the
  # writer could write where it may only read, or the read-only deny would
  # block its own writes.
  prefix_overlaps = [
    for pair in setproduct(local.prefixes, var.read_only_prefixes) : pair
    if startswith(pair[1], pair[0]) || startswith(pair[0], pair[1])
  ]

  # --- GitHub OIDC ---------------------------------------------------------
  github_oidc_host = "token.actions.githubusercontent.com"
  github_oidc_provider_arn = try(coalesce(
    one(aws_iam_openid_connect_provider.github[*].arn),
    var.github_oidc_provider_arn,
    one(data.aws_iam_openid_connect_provider.github[*].arn),
  ), null)
  github_subjects = concat(
    [for b in var.github_branches : "repo:${var.github_repository}:ref:refs/heads/${b}"],
    [for e in var.github_environments : "repo:${var.github_repository}:environment:${e}"],
  )
}

# ===========================================================================
# Writer policy: exactly the actions the writer calls, on exactly its
# resources. No wildcard action, no wildcard resource.
# ===========================================================================

data "aws_iam_policy_document" "writer" {
  statement {
    sid    = "DrainQueue"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage", # DeleteMessageBatch is authorised by the same action
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = compact([local.queue_arn]) # empty only with no queue, which the policy's precondition reports
  }

  statement {
    sid    = "ReadWriteDayAndQuarantineObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject", # also covers CreateMultipartUpload, UploadPart, CompleteMultipartUpload
      "s3:AbortMultipartUpload",
    ]
    resources = [for p in local.prefixes : "${local.bucket_arn}/${p}*"]
  }

  dynamic "statement" {
    for_each = length(var.read_only_prefixes) > 0 ? [1] : []
    content {
      sid       = "ReadOnlyObjects"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [for p in var.read_only_prefixes : "${local.bucket_arn}/${p}*"]
    }
  }

  statement {
    sid       = "ListOnlyOwnPrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"] # lets GetObject of a missing day file answer 404 instead of 403
    resources = [local.bucket_arn]

    dynamic "condition" {
      for_each = var.restrict_list_bucket_to_prefixes ? [1] : []
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in concat(local.prefixes, var.read_only_prefixes) : "${p}*"]
      }
    }
  }

  statement {
    sid       = "CheckBucketVersioning"
    effect    = "Allow"
    actions   = ["s3:GetBucketVersioning"] # `doctor` warns when the bucket keeps no old versions
    resources = [local.bucket_arn]
  }

  dynamic "statement" {
    for_each = var.queue_kms_key_arn == null ? [] : [var.queue_kms_key_arn]
    content {
      sid       = "DecryptQueueMessages"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.bucket_kms_key_arn == null ? [] : [var.bucket_kms_key_arn]
    content {
      sid    = "UseBucketKey"
      effect = "Allow"
      actions = [
        "kms:GenerateDataKey", # PutObject / CreateMultipartUpload with SSE-KMS
        "kms:Decrypt",         # GetObject, and UploadPart/CompleteMultipartUpload with SSE-KMS
      ]
      resources = [statement.value]
    }
  }

  # Explicit denies win over any Allow in any other policy of the same
  # principal: whatever else is attached to the role, it cannot touch these
  # queues, nor do anything but read under read_only_prefixes.
  dynamic "statement" {
    for_each = length(var.deny_queue_arns) > 0 ? [1] : []
    content {
      sid       = "DenyOtherQueues"
      effect    = "Deny"
      actions   = ["sqs:*"]
      resources = var.deny_queue_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.read_only_prefixes) > 0 ? [1] : []
    content {
      sid         = "DenyAllButReadingReadOnlyObjects"
      effect      = "Deny"
      not_actions = ["s3:GetObject"]
      resources   = [for p in var.read_only_prefixes : "${local.bucket_arn}/${p}*"]
    }
  }
}

resource "aws_iam_policy" "writer" {
  name        = "${var.name}-writer"
  description = "s3-event-writer: drain ${coalesce(local.queue_arn, "-")} into s3://${var.bucket_name}/${var.day_prefix} and s3://${var.bucket_name}/${var.quarantine_prefix}"
  policy      = data.aws_iam_policy_document.writer.json
  tags        = var.tags

  # Here rather than on the document: a data source with conditions is read
  # only at apply when it depends on a resource with changes (a created
  # queue), and the document is wanted in the plan.
  lifecycle {
    precondition {
      condition     = var.create_queue ? var.queue_name != null : (var.queue_arn != null || var.queue_name != null)
      error_message = "Set queue_name (create_queue = true), or queue_arn or queue_name of the existing queue."
    }
    precondition {
      condition     = length(local.prefix_overlaps) == 0
      error_message = "read_only_prefixes must not overlap day_prefix or quarantine_prefix: ${join(", ", [for pair in local.prefix_overlaps : "${pair[0]} and ${pair[1]}"])}."
    }
    precondition {
      condition     = !contains(var.deny_queue_arns, coalesce(local.queue_arn, "-"))
      error_message = "The drained queue ${coalesce(local.queue_arn, "-")} is in deny_queue_arns."
    }
  }
}

# ===========================================================================
# GitHub Actions role (OIDC, no long-lived keys)
# ===========================================================================

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM no longer uses thumbprints for this provider (it trusts its own CA
  # store), but older providers of the AWS Terraform provider require the list.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
  tags = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = !var.create_github_oidc_provider && var.github_oidc_provider_arn == null && var.create_github_role ? 1 : 0

  url = "https://${local.github_oidc_host}"
}

data "aws_iam_policy_document" "github_trust" {
  count = var.create_github_role ? 1 : 0

  statement {
    sid     = "GitHubActionsOIDC"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:sub"
      values   = local.github_subjects
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.github_subjects) > 0
      error_message = "Give at least one of github_branches or github_environments."
    }
  }
}

resource "aws_iam_role" "github" {
  count = var.create_github_role ? 1 : 0

  name                 = "${var.name}-github"
  description          = "Assumed by GitHub Actions in ${var.github_repository} to run s3-event-writer"
  assume_role_policy   = data.aws_iam_policy_document.github_trust[0].json
  max_session_duration = var.role_max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "github" {
  count = var.create_github_role ? 1 : 0

  role       = aws_iam_role.github[0].name
  policy_arn = aws_iam_policy.writer.arn
}

# The hourly job publishes the run's totals (`drain --metric-data`) with
# `aws cloudwatch put-metric-data`: the role may put metrics into the
# module's namespace only. Not in the writer policy: the binary never calls
# PutMetricData (the Lambda function prints EMF records to its logs).
data "aws_iam_policy_document" "github_metrics" {
  count = var.create_github_role ? 1 : 0

  statement {
    sid       = "PublishRunMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; the condition scopes it

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
}

resource "aws_iam_role_policy" "github_metrics" {
  count = var.create_github_role ? 1 : 0

  name   = "${var.name}-metrics"
  role   = aws_iam_role.github[0].id
  policy = data.aws_iam_policy_document.github_metrics[0].json
}

# ===========================================================================
# Optional IAM user for manual runs (policy through a group, no access key)
# ===========================================================================

resource "aws_iam_group" "manual" {
  count = var.create_manual_user ? 1 : 0

  name = "${var.name}-operators"
}

resource "aws_iam_group_policy_attachment" "manual" {
  count = var.create_manual_user ? 1 : 0

  group      = aws_iam_group.manual[0].name
  policy_arn = aws_iam_policy.writer.arn
}

resource "aws_iam_user" "manual" {
  #checkov:skip=CKV_AWS_273:Opt-in IAM user (create_manual_user, default false) for accounts without IAM Identity Center; scheduled runs use the OIDC role, and the user gets no access key from Terraform and no direct policy, only membership of the writer group.
  count = var.create_manual_user ? 1 : 0

  name                 = "${var.name}-manual"
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_user_group_membership" "manual" {
  count = var.create_manual_user ? 1 : 0

  user   = aws_iam_user.manual[0].name
  groups = [aws_iam_group.manual[0].name]
}

# ===========================================================================
# Optional SQS queue with dead-letter queue
# ===========================================================================

data "aws_sqs_queue" "existing" {
  count = !var.create_queue && var.queue_arn == null && var.queue_name != null ? 1 : 0

  name = var.queue_name
}

resource "aws_sqs_queue" "dlq" {
  count = var.create_queue ? 1 : 0

  name                      = "${var.queue_name}-dlq"
  message_retention_seconds = var.queue_message_retention_seconds
  sqs_managed_sse_enabled   = var.queue_kms_key_arn == null ? true : null
  kms_master_key_id         = var.queue_kms_key_arn
  tags                      = var.tags
}

resource "aws_sqs_queue" "main" {
  count = var.create_queue ? 1 : 0

  name                       = var.queue_name
  visibility_timeout_seconds = local.queue_visibility_timeout_seconds # raised to 6 x lambda_timeout_seconds with enable_lambda (lambda.tf)
  message_retention_seconds  = var.queue_message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = var.queue_kms_key_arn == null ? true : null
  kms_master_key_id          = var.queue_kms_key_arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[0].arn
    maxReceiveCount     = var.queue_max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = var.create_queue ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main[0].arn]
  })
}

# local.queue_arn is the created queue's ARN here. Through the local, not
# aws_sqs_queue.main directly, the document is read in the plan whenever the
# ARN is known (a data source that names a resource with changes is read only
# at apply), which lets tests/policies.tftest.hcl check it.
data "aws_iam_policy_document" "queue" {
  count = var.create_queue ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
    resources = [local.queue_arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = length(var.sns_topic_arns) > 0 ? [1] : []
    content {
      sid       = "AllowSnsTopics"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [local.queue_arn]

      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = var.sns_topic_arns
      }
    }
  }
}

resource "aws_sqs_queue_policy" "main" {
  count = var.create_queue ? 1 : 0

  queue_url = aws_sqs_queue.main[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}

# ===========================================================================
# Optional bucket
# ===========================================================================

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is the bucket owner's disaster-recovery decision (second bucket, replication role, keys in another region) and nothing the writer needs; versioning, enabled here, already keeps overwritten or deleted day files.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of this bucket (the writer is driven by SQS), and an aws_s3_bucket_notification here would own and overwrite the bucket's whole notification configuration, clobbering any set up by the log consumers.
  count = var.create_bucket ? 1 : 0

  bucket = var.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.bucket_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.bucket_kms_key_arn
    }
    bucket_key_enabled = var.bucket_kms_key_arn != null
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count = var.create_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.bucket_noncurrent_version_expiration_days
    }
  }

  # Quarantine records can hold personal data (docs/PERSONAL-DATA.md): they
  # expire after quarantine_retention_days, and the version an expiry leaves
  # behind (the bucket is versioned) a day later, not after the days of the
  # rule above (S3 applies the shorter of overlapping expirations). null
  # disables both rules and keeps the records until someone deletes them.
  rule {
    id     = "expire-quarantine-records"
    status = var.quarantine_retention_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = var.quarantine_prefix
    }
    expiration {
      days = coalesce(var.quarantine_retention_days, 1)
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "remove-quarantine-delete-markers"
    status = var.quarantine_retention_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = var.quarantine_prefix
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count = var.create_bucket && var.bucket_access_log_bucket != null ? 1 : 0

  bucket        = aws_s3_bucket.this[0].id
  target_bucket = var.bucket_access_log_bucket
  target_prefix = var.bucket_access_log_prefix
}

data "aws_iam_policy_document" "bucket" {
  count = var.create_bucket ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[0].arn, "${aws_s3_bucket.this[0].arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  policy = data.aws_iam_policy_document.bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
