# ===========================================================================
# Operator policy (create_operator_policy, default true): what a person needs
# to look after the queue and the quarantine, kept apart from the writer's
# least-privilege policy, which never sends to the queue nor deletes objects.
#   - `s3-event-writer requeue`: read a quarantine object, send its bodies to
#     the queue (SendMessageBatch is authorised by sqs:SendMessage);
#   - listing and reading the quarantine, and deleting an object once its
#     bodies are back in the queue;
#   - moving messages from the dead-letter queue back to the queue
#     (aws sqs start-message-move-task), when the module knows the DLQ.
# Attached to nothing unless operator_role_names, operator_group_names or
# attach_operator_policy_to_manual_group say so. See docs/DEPLOY.md.
# ===========================================================================

locals {
  operator_count = var.create_operator_policy ? 1 : 0
}

data "aws_iam_policy_document" "operator" {
  count = local.operator_count

  statement {
    sid    = "RequeueAndInspectQueue"
    effect = "Allow"
    actions = [
      "sqs:SendMessage", # also SendMessageBatch
      "sqs:GetQueueAttributes",
    ]
    resources = compact([local.queue_arn]) # empty only with no queue, which the writer policy's precondition reports
  }

  statement {
    sid    = "ReadAndDeleteQuarantineObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:DeleteObject", # once its bodies are requeued (the writer itself never deletes)
    ]
    resources = ["${local.bucket_arn}/${var.quarantine_prefix}*"]
  }

  statement {
    sid       = "ListQuarantinePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.quarantine_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = local.dlq_arn == null ? [] : [local.dlq_arn]
    content {
      sid    = "RedriveDeadLetterQueue"
      effect = "Allow"
      actions = [
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
        "sqs:CancelMessageMoveTask",
        "sqs:ReceiveMessage", # the move task receives and deletes with the caller's permissions
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.queue_kms_key_arn == null ? [] : [var.queue_kms_key_arn]
    content {
      sid    = "UseQueueKey"
      effect = "Allow"
      actions = [
        "kms:GenerateDataKey", # SendMessage to an SSE-KMS queue
        "kms:Decrypt",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.bucket_kms_key_arn == null ? [] : [var.bucket_kms_key_arn]
    content {
      sid       = "ReadWithBucketKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "operator" {
  count = local.operator_count

  name        = "${var.name}-operator"
  description = "s3-event-writer operator: requeue into ${coalesce(local.queue_arn, "-")}, list, read and delete s3://${var.bucket_name}/${var.quarantine_prefix}, redrive the dead-letter queue"
  policy      = data.aws_iam_policy_document.operator[0].json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "operator" {
  for_each = var.create_operator_policy ? toset(var.operator_role_names) : toset([])

  role       = each.value
  policy_arn = aws_iam_policy.operator[0].arn
}

resource "aws_iam_group_policy_attachment" "operator" {
  for_each = var.create_operator_policy ? toset(var.operator_group_names) : toset([])

  group      = each.value
  policy_arn = aws_iam_policy.operator[0].arn
}

resource "aws_iam_group_policy_attachment" "operator_manual" {
  count = var.create_operator_policy && var.create_manual_user && var.attach_operator_policy_to_manual_group ? 1 : 0

  group      = aws_iam_group.manual[0].name
  policy_arn = aws_iam_policy.operator[0].arn
}
