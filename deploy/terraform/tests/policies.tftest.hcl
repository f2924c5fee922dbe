# terraform test (plans only): the writer policy and the GitHub role's metrics
# policy, statement by statement, as the JSON IAM gets (docs/DEPLOY.md,
# "Permissions"). The AWS provider is real, so that aws_iam_policy_document
# renders the documents, but it is never asked anything: no credentials are
# checked, and the one data source that would call AWS is overridden. Each
# document is compared whole, after sorting its lists (the provider renders a
# one-element list as a string): a widened action or resource fails the test.

provider "aws" {
  region                      = "us-west-2"
  access_key                  = "not-used"
  secret_key                  = "not-used"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 1
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

variables {
  bucket_name              = "logpublish"
  github_repository        = "owner/s3-event-writer"
  github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  queue_arn                = "arn:aws:sqs:us-west-2:123456789012:events"
}

run "writer_policy_is_exactly_what_drain_and_doctor_call" {
  command = plan

  assert {
    condition = jsonencode({
      for st in jsondecode(output.writer_policy_json).Statement : st.Sid => {
        Effect    = st.Effect
        Action    = sort(flatten([lookup(st, "Action", [])]))
        NotAction = sort(flatten([lookup(st, "NotAction", [])]))
        Resource  = sort(flatten([st.Resource]))
        Condition = { for test, kv in lookup(st, "Condition", {}) : test => { for k, v in kv : k => sort(flatten([v])) } }
      }
      }) == jsonencode({
      DrainQueue = {
        Effect    = "Allow"
        Action    = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        NotAction = []
        Resource  = ["arn:aws:sqs:us-west-2:123456789012:events"]
        Condition = {}
      }
      ReadWriteDayAndQuarantineObjects = {
        Effect    = "Allow"
        Action    = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish/events/prod/*", "arn:aws:s3:::logpublish/events/quarantine/*"]
        Condition = {}
      }
      ListOnlyOwnPrefixes = {
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish"]
        Condition = { StringLike = { "s3:prefix" = ["events/prod/*", "events/quarantine/*"] } }
      }
      CheckBucketVersioning = {
        Effect    = "Allow"
        Action    = ["s3:GetBucketVersioning"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish"]
        Condition = {}
      }
    })
    error_message = "writer policy is not exactly the expected one: ${output.writer_policy_json}"
  }

  assert {
    condition = jsonencode([
      for st in jsondecode(output.github_metrics_policy_json).Statement : {
        Effect    = st.Effect
        Action    = sort(flatten([st.Action]))
        Resource  = sort(flatten([st.Resource]))
        Condition = st.Condition
      }
      ]) == jsonencode([{
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = ["*"]
        Condition = { StringEquals = { "cloudwatch:namespace" = "s3-event-writer" } }
    }])
    error_message = "the GitHub role may put metrics into metrics_namespace only: ${output.github_metrics_policy_json}"
  }

  assert {
    condition     = aws_iam_role_policy.github_metrics[0].name == "s3-event-writer-metrics"
    error_message = "the metrics policy is an inline policy of the GitHub role"
  }
}

run "keys_add_only_their_kms_actions" {
  command = plan

  variables {
    queue_kms_key_arn  = "arn:aws:kms:us-west-2:123456789012:key/queue"
    bucket_kms_key_arn = "arn:aws:kms:us-west-2:123456789012:key/bucket"
  }

  assert {
    condition = jsonencode({
      for st in jsondecode(output.writer_policy_json).Statement : st.Sid => [st.Effect, sort(flatten([st.Action])), sort(flatten([st.Resource]))]
      if startswith(st.Sid, "DecryptQueue") || startswith(st.Sid, "UseBucketKey")
      }) == jsonencode({
      DecryptQueueMessages = ["Allow", ["kms:Decrypt"], ["arn:aws:kms:us-west-2:123456789012:key/queue"]]
      UseBucketKey         = ["Allow", ["kms:Decrypt", "kms:GenerateDataKey"], ["arn:aws:kms:us-west-2:123456789012:key/bucket"]]
    })
    error_message = "each key gets only the KMS actions its service needs: ${output.writer_policy_json}"
  }
}

run "no_github_role_no_metrics_policy" {
  command = plan

  variables {
    create_github_role = false
  }

  assert {
    condition     = output.github_metrics_policy_json == null && length(aws_iam_role_policy.github_metrics) == 0
    error_message = "without the GitHub role there is no metrics policy (the Lambda function and manual runs do not publish)"
  }
}

run "read_only_prefix_overlapping_a_written_one_is_refused" {
  command = plan

  variables {
    day_prefix         = "events/shadow/"
    quarantine_prefix  = "quarantine/shadow/"
    read_only_prefixes = ["events/"]
  }

  expect_failures = [aws_iam_policy.writer]
}

run "drained_queue_in_deny_queue_arns_is_refused" {
  command = plan

  variables {
    deny_queue_arns = ["arn:aws:sqs:us-west-2:123456789012:events"]
  }

  expect_failures = [aws_iam_policy.writer]
}

run "no_queue_is_refused" {
  command = plan

  variables {
    queue_arn = null
  }

  expect_failures = [aws_iam_policy.writer]
}

# What the shadow deployment (examples/shadow) asks of a created queue: its own
# dead-letter queue and redrive, 14 days' retention on both, encryption on
# both, and a queue policy that lets only the topic send and refuses non-TLS.
run "created_queue_has_its_dead_letter_queue_retention_encryption_and_topic" {
  command = plan

  override_resource {
    target          = aws_sqs_queue.main
    override_during = plan
    values          = { arn = "arn:aws:sqs:us-west-2:123456789012:events-shadow", id = "https://sqs.us-west-2.amazonaws.com/123456789012/events-shadow" }
  }
  override_resource {
    target          = aws_sqs_queue.dlq
    override_during = plan
    values          = { arn = "arn:aws:sqs:us-west-2:123456789012:events-shadow-dlq", id = "https://sqs.us-west-2.amazonaws.com/123456789012/events-shadow-dlq" }
  }

  variables {
    queue_arn      = null
    create_queue   = true
    queue_name     = "events-shadow"
    sns_topic_arns = ["arn:aws:sns:us-west-2:123456789012:events"]
  }

  assert {
    condition = (
      aws_sqs_queue.dlq[0].name == "events-shadow-dlq" &&
      jsondecode(aws_sqs_queue.main[0].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-west-2:123456789012:events-shadow-dlq", maxReceiveCount = 5 } &&
      jsondecode(aws_sqs_queue_redrive_allow_policy.dlq[0].redrive_allow_policy).sourceQueueArns == ["arn:aws:sqs:us-west-2:123456789012:events-shadow"]
    )
    error_message = "the queue redrives to its own dead-letter queue after 5 receives"
  }
  assert {
    condition     = aws_sqs_queue.main[0].message_retention_seconds == 1209600 && aws_sqs_queue.dlq[0].message_retention_seconds == 1209600
    error_message = "both queues keep messages 14 days"
  }
  assert {
    condition     = aws_sqs_queue.main[0].sqs_managed_sse_enabled && aws_sqs_queue.dlq[0].sqs_managed_sse_enabled
    error_message = "both queues are encrypted (SQS-managed SSE without a key)"
  }
  assert {
    condition = jsonencode({
      for st in jsondecode(data.aws_iam_policy_document.queue[0].json).Statement : st.Sid => [
        st.Effect, sort(flatten([st.Action])), st.Principal, st.Condition
      ]
      }) == jsonencode({
      DenyInsecureTransport = ["Deny", ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage", "sqs:SendMessage"], { AWS = "*" }, { Bool = { "aws:SecureTransport" = "false" } }]
      AllowSnsTopics        = ["Allow", ["sqs:SendMessage"], { Service = "sns.amazonaws.com" }, { ArnEquals = { "aws:SourceArn" = "arn:aws:sns:us-west-2:123456789012:events" } }]
    })
    error_message = "only the topic may send, and never without TLS: ${data.aws_iam_policy_document.queue[0].json}"
  }
}
