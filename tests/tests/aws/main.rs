//! Every cross-crate test of the AWS adapters on moto (each test starts its own
//! single-threaded moto server, or shares one: see `tollgate_tests::moto`), in one test
//! binary so the workspace links it once: the store contract on DynamoDB (one test per
//! case), the DynamoDB specifics, the quota and the gateway on DynamoDB, an admin's
//! suspension reaching the gateway, SQS, and the Lambda cold start on the AWS adapters.
//! Needs Python 3 with `moto[server]` (`make test` installs it into `.venv`).

mod admin_dynamodb;
mod contract_dynamodb;
mod gateway_dynamodb;
mod jobs_dynamodb;
mod lambda_on_moto;
mod quota_dynamodb;
mod scopes_dynamodb;
mod sqs_queue;
