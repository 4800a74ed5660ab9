// Command order-service serves the shop's orders (see README.md). Subcommands: none (serve),
// migrate (apply database migrations and exit), healthcheck (exit 0 when /healthz answers 200;
// for container health checks in images without curl).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shopworks/shop/order-service/internal/app"
	"github.com/shopworks/shop/order-service/internal/config"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "order-service:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "":
		return app.Run(ctx, cfg, telemetry.NewLogger(os.Stdout, cfg.LogLevel, "order-service"), nil)
	case "migrate":
		return app.Migrate(cfg)
	case "healthcheck":
		return health.Healthcheck(ctx, cfg.Port)
	default:
		return fmt.Errorf("unknown command %q (want migrate, healthcheck or none)", cmd)
	}
}
