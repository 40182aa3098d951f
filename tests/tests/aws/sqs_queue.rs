//! `SqsQueue`, the AWS adapter of the `Queue` port, against moto's SQS: batches of 10,
//! the id attribute, a missing queue reported.

use std::collections::BTreeMap;
use tollgate_domain::{Queue, QueueMessage, QueueName};
use tollgate_tests::moto::MotoServer;

fn sqs_client(moto: &MotoServer) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "static"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Every message on `url` as (tollgate id attribute, body), deleting them as it goes.
async fn drain_sqs(client: &aws_sdk_sqs::Client, url: &str) -> BTreeMap<String, String> {
    let mut got = BTreeMap::new();
    let mut empty_polls = 0;
    while empty_polls < 3 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            // moto runs single-threaded: a long poll would block it.
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from moto");
        let batch = out.messages();
        if batch.is_empty() {
            empty_polls += 1;
            continue;
        }
        for m in batch {
            let id = m
                .message_attributes()
                .and_then(|a| a.get(tollgate_aws::ID_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .expect("message id attribute")
                .to_string();
            assert!(got.insert(id.clone(), m.body().unwrap_or_default().to_string()).is_none(), "{id} twice");
            client.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_sends_batches_to_moto() {
    let moto = MotoServer::start();
    let client = sqs_client(&moto);
    let url = |name: &str| {
        let client = client.clone();
        let name = name.to_string();
        async move { client.create_queue().queue_name(name).send().await.expect("create queue").queue_url.unwrap() }
    };
    let (usage_url, notifications_url) = (url("tollgate-usage").await, url("tollgate-notifications").await);
    let queue = tollgate_aws::SqsQueue::new(client.clone(), &usage_url, &notifications_url);

    // 25 messages = 3 batches; ids with characters SQS batch entry ids do not allow, one
    // longer than 80 characters, and two that sanitize to the same entry id.
    let mut sent: BTreeMap<String, String> = (0..22)
        .map(|i| {
            let id = format!("Uq3Zc{i:02}YRIAMEbzw=");
            (id.clone(), format!(r#"{{"id":"{id}","n":{i}}}"#))
        })
        .collect();
    sent.insert("a.b".into(), "dot".into());
    sent.insert("a:b".into(), "colon".into());
    sent.insert(format!("req_{}", "x".repeat(120)), "long".into());
    assert_eq!(sent.len(), 25);
    let messages: Vec<QueueMessage> =
        sent.iter().map(|(id, body)| QueueMessage { id: id.clone(), body: body.clone() }).collect();
    queue.send(QueueName::Usage, &messages).await.expect("send 25 via SendMessageBatch");
    queue.send(QueueName::Notifications, &[QueueMessage { id: "alert_1".into(), body: "{}".into() }]).await.unwrap();

    assert_eq!(drain_sqs(&client, &usage_url).await, sent);
    assert_eq!(
        drain_sqs(&client, &notifications_url).await,
        BTreeMap::from([("alert_1".to_string(), "{}".to_string())])
    );
    assert!(queue.send(QueueName::Usage, &[]).await.is_ok());

    // A queue that does not exist: the error says so.
    let missing = tollgate_aws::SqsQueue::new(
        client.clone(),
        format!("{}/123456789012/nope", moto.endpoint()),
        &notifications_url,
    );
    let err = missing.send(QueueName::Usage, &messages[..2]).await.expect_err("no such queue");
    assert!(err.to_string().contains("SendMessageBatch"), "{err}");
}
