#!/bin/bash
# Creates the bucket, the queue and its dead-letter queue (redrive after 5 receives) in LocalStack.
set -euo pipefail
awslocal s3 mb s3://waveflow-stems
dlq_url=$(awslocal sqs create-queue --queue-name waveflow-tasks-dlq --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
awslocal sqs create-queue --queue-name waveflow-tasks --attributes \
  "{\"VisibilityTimeout\":\"60\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"}"
