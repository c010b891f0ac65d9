package webhook

import (
	"go.uber.org/zap/zapcore"
)

const zapLevelError = zapcore.ErrorLevel
