"""The embedded stack for the demo and the tests: Temporal dev server, moto S3/SQS, a NestJS stand-in."""
