package main

import (
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/logging"
)

func serve(args []string) error {
	cfg, err := config.Parse(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.NewWithColor(os.Stderr, cfg.LogLevel, cfg.LogFormat, cfg.LogColor)
	if err != nil {
		return err
	}
	logging.RouteDragonboat(log)
	// Caught from before the start, so that a stop during it (docker stop
	// as the broker comes up) still closes the broker cleanly once started.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	b, err := broker.Start(cfg, log)
	if err != nil {
		return err
	}
	for {
		select {
		case <-hup:
			log.Info().Msg("SIGHUP: reloading TLS certificates")
			// A failed reload is logged by the store and keeps the old certificate.
			_ = b.ReloadTLS()
		case s := <-sig:
			log.Info().Str("signal", s.String()).Msg("stopping")
			b.Close()
			return nil
		}
	}
}
