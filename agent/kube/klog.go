package kube

import (
	"github.com/go-logr/logr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// RouteKlog sends client-go's klog output to the agent's logger, so every
// line the agent prints has the same structured format. client-go's own
// chatter (retries while the API server is down) goes to debug; the manager
// logs the one line an operator needs.
func RouteKlog(log zerolog.Logger) {
	klog.SetLogger(logr.New(&logSink{log: log.With().Str("component", "client-go").Logger()}))
}

type logSink struct {
	log  zerolog.Logger
	name string
}

func (s *logSink) Init(logr.RuntimeInfo) {}

func (s *logSink) Enabled(level int) bool { return s.log.GetLevel() <= zerolog.DebugLevel || level < 0 }

func (s *logSink) Info(_ int, msg string, kv ...any) {
	s.with(s.log.Debug(), kv).Msg(msg)
}

func (s *logSink) Error(err error, msg string, kv ...any) {
	s.with(s.log.Debug(), kv).Err(err).Msg(msg)
}

func (s *logSink) with(ev *zerolog.Event, kv []any) *zerolog.Event {
	if s.name != "" {
		ev = ev.Str("logger", s.name)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			ev = ev.Interface(k, kv[i+1])
		}
	}
	return ev
}

func (s *logSink) WithValues(kv ...any) logr.LogSink {
	ctx := s.log.With()
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			ctx = ctx.Interface(k, kv[i+1])
		}
	}
	return &logSink{log: ctx.Logger(), name: s.name}
}

func (s *logSink) WithName(name string) logr.LogSink {
	n := name
	if s.name != "" {
		n = s.name + "." + name
	}
	return &logSink{log: s.log, name: n}
}
