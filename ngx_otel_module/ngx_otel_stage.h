
/*
 * Copyright (C) ngx_otel_module authors
 */


#ifndef _NGX_OTEL_STAGE_H_INCLUDED_
#define _NGX_OTEL_STAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_otel_span.h"
#include "ngx_otel_exporter.h"


/*
 * A worker's stage: the spans that end in one turn of its event loop are
 * recorded here, without the zone's lock, and put into the zone together
 * at the end of the turn (a posted event), under one lock, with one
 * notice to the exporter.  Under load a turn ends many requests, and the
 * lock, the exporter's check and the zone's bookkeeping are paid once for
 * all of them; the workers also take the zone's lock that much less often.
 */
ngx_int_t ngx_otel_stage_init(ngx_cycle_t *cycle,
    ngx_otel_exporter_conf_t *ecf);

/* a finished span: staged, or put into the zone at once without a stage */
void ngx_otel_stage_push(ngx_otel_exporter_conf_t *ecf, ngx_otel_span_t *span);

/* the stage into the zone now: at exit, and when it is full */
void ngx_otel_stage_flush(ngx_otel_exporter_conf_t *ecf);


#endif /* _NGX_OTEL_STAGE_H_INCLUDED_ */
