//! Integration tests of the exam results service against the emulator: every route with each
//! role and bad input through the function's real router and the sample API Gateway events, the
//! consumers through the sample SQS events, and the events published, read back from a probe
//! queue on the topic after an outbox sweep. Each test builds its own table, queues and topic.

mod booking;
mod catalogue;
mod consumers;
mod exams;
mod ingest;
mod support;
