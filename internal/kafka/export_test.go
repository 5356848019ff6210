package kafka

// FirstError exposes firstError to the external test package.
var FirstError = firstError
