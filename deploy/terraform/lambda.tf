# ===========================================================================
# Optional Lambda runner (enable_lambda, default false): the same binary as
# `s3-event-writer lambda`, a provided.al2023 custom runtime on arm64, fed by
# an SQS event source mapping that reports partial batch failures.
# See docs/LAMBDA.md.
# ===========================================================================

locals {
  lambda_count = var.enable_lambda ? 1 : 0

  # AWS recommends a source-queue visibility timeout of at least six times
  # the function timeout, so that a batch retried after throttling or an
  # error is not handed out again while the first attempt is still running.
  # Used by aws_sqs_queue.main (queue created by this module only).
  queue_visibility_timeout_seconds = var.enable_lambda ? max(var.queue_visibility_timeout_seconds, 6 * var.lambda_timeout_seconds) : var.queue_visibility_timeout_seconds

  # Empty rule lists are left out, so that the binary uses the SPEC's defaults.
  lambda_environment = merge(
    {
      S3EW_DEST       = "s3://${var.bucket_name}/${var.day_prefix}"
      S3EW_QUARANTINE = "s3://${var.bucket_name}/${var.quarantine_prefix}"
      RUST_LOG        = var.lambda_log_level
      # The function prints its EMF metrics (on by default) in the namespace the Failures
      # alarm watches.
      S3EW_METRICS_NAMESPACE = var.metrics_namespace
    },
    length(var.lambda_prod_hosts) > 0 ? { S3EW_PROD_HOSTS = join(",", var.lambda_prod_hosts) } : {},
    length(var.lambda_drop_events) > 0 ? { S3EW_DROP_EVENTS = join(",", var.lambda_drop_events) } : {},
    length(var.lambda_drop_channels) > 0 ? { S3EW_DROP_CHANNELS = join(",", var.lambda_drop_channels) } : {},
    var.lambda_extra_environment,
  )
}

# --- execution role ----------------------------------------------------------

data "aws_iam_policy_document" "lambda_trust" {
  count = local.lambda_count

  statement {
    sid     = "LambdaService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  count = local.lambda_count

  name                 = "${var.name}-lambda"
  description          = "Execution role of the ${var.name} Lambda function (drains ${local.queue_arn})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_trust[0].json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# The same least-privilege writer policy as the GitHub role. It also covers
# what the event source mapping itself needs on the queue (ReceiveMessage,
# DeleteMessage, GetQueueAttributes, and kms:Decrypt with queue_kms_key_arn).
resource "aws_iam_role_policy_attachment" "lambda_writer" {
  count = local.lambda_count

  role       = aws_iam_role.lambda[0].name
  policy_arn = aws_iam_policy.writer.arn
}

data "aws_iam_policy_document" "lambda_runtime" {
  count = local.lambda_count

  statement {
    sid    = "WriteOwnLogGroup"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    # The log group is created below, so logs:CreateLogGroup is not granted.
    resources = ["${aws_cloudwatch_log_group.lambda[0].arn}:*"]
  }

  dynamic "statement" {
    for_each = var.lambda_tracing_enabled ? [1] : []
    content {
      sid    = "WriteXRayTraces"
      effect = "Allow"
      actions = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
      ]
      # These X-Ray actions support no resource-level permissions: "*" is the
      # only resource IAM accepts for them.
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "lambda_runtime" {
  count = local.lambda_count

  name   = "${var.name}-lambda-runtime"
  role   = aws_iam_role.lambda[0].id
  policy = data.aws_iam_policy_document.lambda_runtime[0].json
}

# --- logs --------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_338:These are operational logs of a batch writer (per-invocation summaries and errors); the events themselves live in the S3 day files. Retention is a variable (lambda_log_retention_days, default 30) for accounts whose policy asks for a year.
  count = local.lambda_count

  # The group Lambda writes to by default, created here so that it gets a
  # retention and, optionally, a KMS key.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.lambda_log_retention_days
  kms_key_id        = var.lambda_log_kms_key_arn
  tags              = var.tags
}

# --- function ----------------------------------------------------------------

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:SQS event source: a failed record goes back to the queue (batchItemFailures), and the queue's redrive policy moves it to the dead-letter queue after maxReceiveCount receives. A function DLQ applies only to asynchronous invocations, which this function never gets.
  #checkov:skip=CKV_AWS_117:The function needs only the public SQS and S3 endpoints and no VPC resource; a VPC would add NAT or interface endpoints and nothing to the security of TLS calls signed with the role's credentials.
  count = local.lambda_count

  function_name                  = var.name
  description                    = "s3-event-writer lambda: SQS ${local.queue_arn} into s3://${var.bucket_name}/${var.day_prefix}"
  role                           = aws_iam_role.lambda[0].arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = var.lambda_zip_path
  source_code_hash               = var.lambda_zip_path == null ? null : filebase64sha256(var.lambda_zip_path)
  memory_size                    = var.lambda_memory_size_mb
  timeout                        = var.lambda_timeout_seconds
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = var.lambda_kms_key_arn
  code_signing_config_arn        = var.lambda_code_signing_config_arn

  ephemeral_storage {
    size = var.lambda_ephemeral_storage_mb
  }

  environment {
    variables = local.lambda_environment
  }

  tracing_config {
    mode = var.lambda_tracing_enabled ? "Active" : "PassThrough"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.lambda_zip_path != null
      error_message = "enable_lambda = true needs lambda_zip_path: the zip holding the binary as `bootstrap` (see docs/LAMBDA.md)."
    }
  }

  # The log group must exist before the first invocation (or Lambda would log
  # nowhere: the role may not create groups), and Active tracing is refused
  # unless the role already allows xray:PutTraceSegments.
  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda_runtime,
    aws_iam_role_policy_attachment.lambda_writer,
  ]
}

# --- trigger -----------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "sqs" {
  count = local.lambda_count

  event_source_arn = local.queue_arn
  function_name    = aws_lambda_function.this[0].arn
  enabled          = var.lambda_mapping_enabled

  # The function returns batchItemFailures: only the listed records go back
  # to the queue, the others are deleted by the mapping.
  function_response_types = ["ReportBatchItemFailures"]

  batch_size                         = var.lambda_batch_size
  maximum_batching_window_in_seconds = var.lambda_maximum_batching_window_seconds

  scaling_config {
    maximum_concurrency = var.lambda_maximum_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.lambda_batch_size <= 10 || var.lambda_maximum_batching_window_seconds > 0
      error_message = "SQS allows lambda_batch_size > 10 only with lambda_maximum_batching_window_seconds > 0."
    }
  }

  # CreateEventSourceMapping checks that the function's role may receive and
  # delete messages.
  depends_on = [aws_iam_role_policy_attachment.lambda_writer]
}
