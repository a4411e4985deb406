"""Pure-data handlers that turn raw inputs (mail, calendar, ...) into typed records."""
