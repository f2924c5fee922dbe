# terraform test (plans only) of the shadow deployment: what the shadow role
# may do, statement by statement, as the JSON IAM gets, and the queue and
# subscription. The AWS provider is real, so that the policy documents are
# rendered, but it is never asked anything: no credentials are checked, the
# data sources that would call AWS are overridden, and so are the ARNs and
# URLs of the two queues, which AWS would assign.
#
# Guarantees checked:
#   - every Allow of a write action is on the shadow prefixes only;
#   - no Allow names the production queue, and a Deny covers it (sqs:*);
#   - events/prod/ is allowed s3:GetObject only, and a Deny covers every other
#     action there;
#   - the whole document equals the expected one: widening anything fails.

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
  target = module.shadow.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = module.shadow.data.aws_iam_openid_connect_provider.github
  values = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}

override_resource {
  target          = module.shadow.aws_sqs_queue.main
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-west-2:123456789012:s3-event-writer-shadow"
    id  = "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow"
    url = "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow"
  }
}

override_resource {
  target          = module.shadow.aws_sqs_queue.dlq
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-west-2:123456789012:s3-event-writer-shadow-dlq"
    id  = "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow-dlq"
    url = "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow-dlq"
  }
}

variables {
  github_repository    = "owner/s3-event-writer"
  sns_topic_arn        = "arn:aws:sns:us-west-2:123456789012:events"
  production_queue_arn = "arn:aws:sqs:us-west-2:123456789012:s3-event-writer"
}

run "shadow_role_writes_only_shadow_prefixes_and_never_touches_production" {
  command = plan

  # Every Allow statement whose actions write (anything but Get*, List* and
  # sqs:GetQueueAttributes) names only shadow resources.
  assert {
    condition = alltrue(flatten([
      for st in jsondecode(output.writer_policy_json).Statement : [
        for r in flatten([st.Resource]) :
        startswith(r, "arn:aws:s3:::logpublish/events/shadow/") || startswith(r, "arn:aws:s3:::logpublish/quarantine/shadow/") || r == "arn:aws:sqs:us-west-2:123456789012:s3-event-writer-shadow"
      ] if st.Effect == "Allow" && anytrue([for a in flatten([lookup(st, "Action", [])]) : !can(regex("^(s3:(Get|List)|sqs:GetQueueAttributes$)", a))])
    ]))
    error_message = "a write action is allowed outside the shadow prefixes and queue: ${output.writer_policy_json}"
  }

  # No Allow names the production queue or a production object; only Denies do.
  assert {
    condition = alltrue(flatten([
      for st in jsondecode(output.writer_policy_json).Statement : [
        for r in flatten([st.Resource]) : r != "arn:aws:sqs:us-west-2:123456789012:s3-event-writer"
      ] if st.Effect == "Allow"
    ]))
    error_message = "an Allow names the production queue: ${output.writer_policy_json}"
  }

  # The Allows on events/prod/ are reads.
  assert {
    condition = alltrue(flatten([
      for st in jsondecode(output.writer_policy_json).Statement : [
        for a in flatten([lookup(st, "Action", [])]) : a == "s3:GetObject"
      ] if st.Effect == "Allow" && contains(flatten([st.Resource]), "arn:aws:s3:::logpublish/events/prod/*")
    ]))
    error_message = "events/prod/ is allowed more than s3:GetObject: ${output.writer_policy_json}"
  }

  # The whole document, exactly.
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
        Resource  = ["arn:aws:sqs:us-west-2:123456789012:s3-event-writer-shadow"]
        Condition = {}
      }
      ReadWriteDayAndQuarantineObjects = {
        Effect    = "Allow"
        Action    = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish/events/shadow/*", "arn:aws:s3:::logpublish/quarantine/shadow/*"]
        Condition = {}
      }
      ReadOnlyObjects = {
        Effect    = "Allow"
        Action    = ["s3:GetObject"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish/events/prod/*"]
        Condition = {}
      }
      ListOnlyOwnPrefixes = {
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish"]
        Condition = { StringLike = { "s3:prefix" = ["events/prod/*", "events/shadow/*", "quarantine/shadow/*"] } }
      }
      CheckBucketVersioning = {
        Effect    = "Allow"
        Action    = ["s3:GetBucketVersioning"]
        NotAction = []
        Resource  = ["arn:aws:s3:::logpublish"]
        Condition = {}
      }
      DenyOtherQueues = {
        Effect    = "Deny"
        Action    = ["sqs:*"]
        NotAction = []
        Resource  = ["arn:aws:sqs:us-west-2:123456789012:s3-event-writer"]
        Condition = {}
      }
      DenyAllButReadingReadOnlyObjects = {
        Effect    = "Deny"
        Action    = []
        NotAction = ["s3:GetObject"]
        Resource  = ["arn:aws:s3:::logpublish/events/prod/*"]
        Condition = {}
      }
    })
    error_message = "the shadow writer policy is not exactly the expected one: ${output.writer_policy_json}"
  }

  assert {
    condition     = jsondecode(output.github_metrics_policy_json).Statement[0].Condition == { StringEquals = { "cloudwatch:namespace" = "s3-event-writer-shadow" } }
    error_message = "the shadow role publishes metrics into the shadow namespace only: ${output.github_metrics_policy_json}"
  }

  assert {
    condition     = module.shadow.github_subjects == ["repo:owner/s3-event-writer:ref:refs/heads/main"]
    error_message = "the shadow role trusts the same repository's main branch"
  }
}

run "shadow_queue_is_subscribed_like_production" {
  command = plan

  assert {
    condition = (
      aws_sns_topic_subscription.shadow.topic_arn == "arn:aws:sns:us-west-2:123456789012:events" &&
      aws_sns_topic_subscription.shadow.protocol == "sqs" &&
      aws_sns_topic_subscription.shadow.endpoint == "arn:aws:sqs:us-west-2:123456789012:s3-event-writer-shadow" &&
      aws_sns_topic_subscription.shadow.raw_message_delivery == false
    )
    error_message = "the shadow queue is subscribed to production's topic with SNS envelopes, like production (SPEC)"
  }

  assert {
    condition = (
      output.SHADOW_QUEUE_URL == "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow" &&
      output.SHADOW_S3EW_DEST == "s3://logpublish/events/shadow/" &&
      output.SHADOW_S3EW_QUARANTINE == "s3://logpublish/quarantine/shadow/" &&
      output.SHADOW_S3EW_METRICS_NAMESPACE == "s3-event-writer-shadow"
    )
    error_message = "the outputs are the shadow mode's repository variables"
  }

  assert {
    condition     = output.dead_letter_queue_url == "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow-dlq"
    error_message = "the shadow queue has its own dead-letter queue"
  }
}

run "raw_delivery_and_filter_follow_the_inputs" {
  command = plan

  variables {
    raw_message_delivery = true
    filter_policy        = "{\"hostname\":[\"futel-prod-back\"]}"
  }

  assert {
    condition     = aws_sns_topic_subscription.shadow.raw_message_delivery == true && aws_sns_topic_subscription.shadow.filter_policy == "{\"hostname\":[\"futel-prod-back\"]}"
    error_message = "raw_message_delivery and filter_policy are production's, as given"
  }
}

run "shadow_queue_named_like_production_is_refused" {
  command = plan

  variables {
    queue_name = "s3-event-writer"
  }

  expect_failures = [aws_sns_topic_subscription.shadow]
}

# The module refuses a written prefix that overlaps a read-only one
# (tests/policies.tftest.hcl); the example also wants the `shadow` segment the
# workflow's shadow mode checks.
run "prefix_without_a_shadow_segment_is_refused" {
  command = plan

  variables {
    shadow_day_prefix        = "events/"
    shadow_quarantine_prefix = "quarantine/shadowy/"
  }

  expect_failures = [var.shadow_day_prefix, var.shadow_quarantine_prefix]
}
