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
