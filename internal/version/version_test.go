package version

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// read returns a file of the repository (two levels up).
func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// one returns the single submatch of re in text, failing unless there is
// exactly one match.
func one(t *testing.T, what, text string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d matches of %s, want 1", what, len(m), re)
	}
	return m[0][1]
}

// TestVersionIsOneSource checks that everything naming the release names
// Version: the image label's defaults in the Dockerfile and
// docker-compose.yml, the line scripts/build-images.sh reads it from and
// passes on, and the newest release in CHANGELOG.md.
func TestVersionIsOneSource(t *testing.T) {
	docker := read(t, "Dockerfile")
	if got := one(t, "Dockerfile", docker, regexp.MustCompile(`(?m)^ARG VERSION=(\S+)$`)); got != Version {
		t.Errorf("Dockerfile ARG VERSION=%s, internal/version has %s", got, Version)
	}
	if !regexp.MustCompile(`(?m)^\s*(LABEL\s+)?org\.opencontainers\.image\.version="\$\{VERSION\}"`).MatchString(docker) {
		t.Error("Dockerfile: no LABEL org.opencontainers.image.version=\"${VERSION}\"")
	}
	compose := read(t, "docker-compose.yml")
	if got := one(t, "docker-compose.yml", compose, regexp.MustCompile(`(?m)^\s+VERSION:\s*"([^"]*)"`)); got != Version {
		t.Errorf("docker-compose.yml build arg VERSION %q, internal/version has %s", got, Version)
	}
	src := read(t, "internal/version/version.go")
	if !strings.Contains(src, "\nconst Version = \""+Version+"\"\n") {
		t.Error(`version.go: scripts/build-images.sh reads the line 'const Version = "..."', which is gone`)
	}
	script := read(t, "scripts/build-images.sh")
	for _, want := range []string{`s/^const Version = "\(.*\)"$/\1/p' internal/version/version.go`, `--build-arg VERSION="$version"`} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/build-images.sh no longer has %s", want)
		}
	}
	changelog := read(t, "CHANGELOG.md")
	if got := regexp.MustCompile(`(?m)^## \[(\d[^\]]*)\] - \d{4}-\d{2}-\d{2}$`).FindStringSubmatch(changelog); got == nil || got[1] != Version {
		t.Errorf("CHANGELOG.md's newest release is %v, internal/version has %s", got, Version)
	}
}
