//! Running a queue worker as a Lambda function on an SQS event source with
//! `ReportBatchItemFailures`, with one EMF metrics line per batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use std::future::Future;

/// Hands the batch's `(message id, body)` pairs to `process` and reports the message ids it
/// returns as `batchItemFailures`, so SQS delivers those again and no other. A record
/// without a `messageId` (SQS always sets one) is processed too; if it fails it is reported
/// with an empty identifier, which Lambda treats as a failure of the whole batch, so it is
/// retried rather than lost.
pub async fn handle_batch<F, Fut>(event: SqsEvent, process: F) -> SqsBatchResponse
where
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let messages: Vec<(String, String)> =
        event.records.into_iter().map(|r| (r.message_id.unwrap_or_default(), r.body.unwrap_or_default())).collect();
    let failed = process(messages).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Serves SQS batches with [`handle_batch`] until the runtime stops the function; `process`
/// is called once per batch. Each batch is reported as an EMF line
/// ([`crate::emf::sqs_batch_line`]: processed and failed messages of its queue).
pub async fn serve<F, Fut>(process: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let process = &process;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let queue = queue_name(&event.payload).unwrap_or("unknown").to_string();
        let received = event.payload.records.len();
        let response = handle_batch(event.payload, process).await;
        let failed = response.batch_item_failures.len().min(received);
        crate::emf::sqs_batch(&queue, received - failed, failed);
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}

/// The name of the queue a batch came from: the last part of its first record's
/// `eventSourceARN` (`arn:aws:sqs:<region>:<account>:<name>`).
pub fn queue_name(event: &SqsEvent) -> Option<&str> {
    let arn = event.records.first()?.event_source_arn.as_deref()?;
    arn.rsplit(':').next().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    #[test]
    fn the_queue_name_is_the_end_of_the_source_arn() {
        let mut message = SqsMessage::default();
        message.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:tollgate-UsageQueue-AbC".into());
        let mut event = SqsEvent::default();
        assert_eq!(queue_name(&event), None);
        event.records.push(message);
        assert_eq!(queue_name(&event), Some("tollgate-UsageQueue-AbC"));
    }
}
