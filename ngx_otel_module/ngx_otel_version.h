
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_VERSION_H_INCLUDED_
#define _NGX_OTEL_VERSION_H_INCLUDED_


/* telemetry.sdk.version, the instrumentation scope version, User-Agent */
#define NGX_OTEL_VERSION  "0.1.0"


#endif /* _NGX_OTEL_VERSION_H_INCLUDED_ */
