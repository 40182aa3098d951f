//! Running a queue worker as a Lambda function on an SQS event source with
//! `ReportBatchItemFailures`.

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
/// is called once per batch.
pub async fn serve<F, Fut>(process: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let process = &process;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(handle_batch(event.payload, process).await)
    }))
    .await
}
