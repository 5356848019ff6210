// Package version holds what `longboat version`, /v1/status and the
// metrics report about the build.
package version

import "runtime"

// Version is the release, as CHANGELOG.md names it. It is the one source:
// scripts/build-images.sh reads it from this line for the image label, and
// the Dockerfile and docker-compose.yml defaults must match it (a test
// checks them).
const Version = "0.1.0"

// Commit is the commit the binary was built from, set with
// -ldflags "-X github.com/longboat/longboat/internal/version.Commit=...".
var Commit = "unknown"

// String is the version line `longboat version` prints.
func String() string {
	return "longboat " + Version + " (commit " + Commit + ", " + runtime.Version() + ")"
}
