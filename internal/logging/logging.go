// Package logging builds the process's zerolog logger and routes
// dragonboat's own logging into it, so there is one structured stream.
package logging

import (
	"fmt"
	"io"
	"os"
	"sync"

	"early.longboat.invalid/dblog"
	"github.com/lni/dragonboat/v4/logger"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns a logger writing to w in the given format ("console", "json"
// or "auto": console when w is a terminal) at the given level, coloured
// only when w is a terminal.
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	return NewWithColor(w, level, format, "auto")
}

// NewWithColor is New with the console format's colours chosen by color:
// "always", "never", or "auto" (only when w is a terminal). Escape codes in
// a file or a container's log are noise; `longboat dev` asks its brokers,
// whose output is a pipe, for colour when its own output is a terminal.
func NewWithColor(w io.Writer, level, format, color string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level %q: %w", level, err)
	}
	tty := IsTerminal(w)
	if format == "auto" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	var noColor bool
	switch color {
	case "always":
	case "never":
		noColor = true
	case "auto":
		noColor = !tty
	default:
		return zerolog.Nop(), fmt.Errorf("log color %q: use auto, always or never", color)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: noColor}
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// IsTerminal tells whether w is a terminal (not a pipe, file or
// /dev/null, which is a character device too).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

var (
	routeOnce sync.Once
	routeMu   sync.RWMutex
	routed    zerolog.Logger
)

// RouteDragonboat sends dragonboat's log lines to l, with the lines it
// logged before (while Go initialised its packages: see package dblog)
// first. Later calls (a test that starts several brokers) only replace the
// destination.
func RouteDragonboat(l zerolog.Logger) {
	routeMu.Lock()
	routed = l.With().Str("component", "raft").Logger()
	routeMu.Unlock()
	routeOnce.Do(func() {
		// dragonboat logs every election and connection at INFO; keep the
		// useful packages at WARNING so a restart of 1000 shards is not
		// 100k lines.
		// raft logs every pre-vote and vote at WARNING; leadership changes
		// are counted and logged by the cluster package instead.
		logger.GetLogger("raft").SetLevel(logger.ERROR)
		for _, pkg := range []string{"rsm", "transport", "dragonboat", "logdb", "grpc", "raftpb", "settings", "tan", "registry"} {
			logger.GetLogger(pkg).SetLevel(logger.WARNING)
		}
		// It warns at every start that Raft traffic is not TLS; the docs say so once.
		logger.GetLogger("config").SetLevel(logger.ERROR)
		dblog.SetSink(func(line dblog.Line) {
			routeMu.RLock()
			lg := routed
			routeMu.RUnlock()
			lg.WithLevel(zerologLevel(line.Level)).Str("pkg", line.Pkg).Msg(line.Msg)
		})
	})
}

// zerologLevel maps dragonboat's levels; its CRITICAL precedes a panic,
// which zerolog's panic level would raise itself, so it is logged as an
// error and dragonboat panics.
func zerologLevel(l logger.LogLevel) zerolog.Level {
	switch l {
	case logger.DEBUG:
		return zerolog.DebugLevel
	case logger.INFO:
		return zerolog.InfoLevel
	case logger.WARNING:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}
