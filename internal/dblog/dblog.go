// Package dblog installs dragonboat's logger factory before dragonboat's
// own packages initialise, so that the lines they log during package
// initialisation (the "Setting ..." line per value read from
// dragonboat-soft-settings.json) reach the process's structured log
// instead of going to stderr in dragonboat's plain format.
//
// Go initialises packages in import-path order among those whose imports
// are initialised (the Go spec, since Go 1.21). This package imports only
// dragonboat's logger package, and its path, early.longboat.invalid/dblog,
// sorts before github.com/lni/dragonboat/v4/internal/settings; that is why
// it is a module of its own (go.mod replaces it with this directory) rather
// than a package under github.com/longboat/longboat, which sorts after.
//
// Lines logged before a sink is set are kept (up to maxEarly) and handed
// to the sink when it is set.
package dblog

import (
	"fmt"
	"sync"

	"github.com/lni/dragonboat/v4/logger"
)

// Line is one dragonboat log line.
type Line struct {
	Pkg   string
	Level logger.LogLevel
	Msg   string
}

// Sink receives dragonboat's log lines.
type Sink func(Line)

// maxEarly bounds the lines kept before a sink is set: a command that never
// starts a broker never sets one.
const maxEarly = 1000

var (
	mu    sync.Mutex
	sink  Sink
	early []Line
)

func init() {
	logger.SetLoggerFactory(func(pkg string) logger.ILogger { return &pkgLogger{pkg: pkg, level: logger.INFO} })
}

// SetSink sends the lines kept so far to s, then every later line.
func SetSink(s Sink) {
	mu.Lock()
	kept := early
	early, sink = nil, s
	mu.Unlock()
	for _, l := range kept {
		s(l)
	}
}

func emit(l Line) {
	mu.Lock()
	s := sink
	if s == nil && len(early) < maxEarly {
		early = append(early, l)
	}
	mu.Unlock()
	if s != nil {
		s(l)
	}
}

// pkgLogger is one dragonboat package's logger, with the level dragonboat
// (or Longboat, through logger.GetLogger) sets for it.
type pkgLogger struct {
	mu    sync.Mutex
	pkg   string
	level logger.LogLevel
}

func (p *pkgLogger) SetLevel(l logger.LogLevel) {
	p.mu.Lock()
	p.level = l
	p.mu.Unlock()
}

func (p *pkgLogger) log(l logger.LogLevel, format string, args []interface{}) {
	p.mu.Lock()
	on := l <= p.level
	p.mu.Unlock()
	if on {
		emit(Line{Pkg: p.pkg, Level: l, Msg: fmt.Sprintf(format, args...)})
	}
}

func (p *pkgLogger) Debugf(f string, a ...interface{})   { p.log(logger.DEBUG, f, a) }
func (p *pkgLogger) Infof(f string, a ...interface{})    { p.log(logger.INFO, f, a) }
func (p *pkgLogger) Warningf(f string, a ...interface{}) { p.log(logger.WARNING, f, a) }
func (p *pkgLogger) Errorf(f string, a ...interface{})   { p.log(logger.ERROR, f, a) }

// Panicf logs at CRITICAL, always, then panics as dragonboat expects.
func (p *pkgLogger) Panicf(f string, a ...interface{}) {
	msg := fmt.Sprintf(f, a...)
	emit(Line{Pkg: p.pkg, Level: logger.CRITICAL, Msg: msg})
	panic(msg)
}
