package ice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory adapts a *slog.Logger to pion's logging.LoggerFactory. pion's
// info messages are routine connection chatter and go to slog's debug level,
// its warnings (mostly transient, such as a check sent before any candidate
// pair exists) to info, its trace level to debug minus four.
type slogFactory struct{ log *slog.Logger }

// LoggerFactory returns a pion logger factory that writes to log, with each
// pion scope as a "scope" attribute.
func LoggerFactory(log *slog.Logger) logging.LoggerFactory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return slogFactory{log: log}
}

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("scope", "pion/"+scope)}
}

type slogLeveled struct{ log *slog.Logger }

const levelTrace = slog.LevelDebug - 4

func (l slogLeveled) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l slogLeveled) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l slogLeveled) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l slogLeveled) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLeveled) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l slogLeveled) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLeveled) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l slogLeveled) Warn(msg string)                   { l.logf(slog.LevelInfo, "%s", msg) }
func (l slogLeveled) Warnf(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l slogLeveled) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l slogLeveled) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
