
/*
 * Copyright (C) ngx_otel_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_otel_module.h"
#include "ngx_otel_conf_value.h"
#include "ngx_otel_shm.h"
#include "ngx_otel_stage.h"


#define NGX_HTTP_OTEL_DEFAULT_SERVICE_NAME  "unknown_service:nginx"
#define NGX_HTTP_OTEL_ZONE_NAME             "ngx_otel_module"


static void *ngx_http_otel_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_otel_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_otel_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_otel_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_otel_exporter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_exporter_block(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_otel_exporter_endpoint(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_otel_exporter_header(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_otel_exporter_trusted_certificate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_otel_exporter_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_otel_exporter_finish(ngx_conf_t *cf,
    ngx_otel_exporter_conf_t *ecf);
static char *ngx_http_otel_exporter_url(ngx_conf_t *cf,
    ngx_otel_exporter_conf_t *ecf);
static char *ngx_http_otel_resource_attr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_trace(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_trace_context(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_propagators(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_sampler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_span_attr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_otel_conf_enum(ngx_conf_t *cf, ngx_str_t *value,
    ngx_conf_enum_t *e, ngx_uint_t *out);
static ngx_int_t ngx_http_otel_span_names(ngx_conf_t *cf,
    ngx_http_otel_loc_conf_t *olcf);

static ngx_int_t ngx_http_otel_resource(ngx_conf_t *cf,
    ngx_http_otel_main_conf_t *omcf);
static ngx_int_t ngx_http_otel_env_headers(ngx_conf_t *cf,
    ngx_otel_exporter_conf_t *ecf);
static ngx_int_t ngx_http_otel_env_list(ngx_conf_t *cf, const char *name,
    ngx_uint_t headers, ngx_array_t *list);
static ngx_int_t ngx_http_otel_keyval_find(ngx_array_t *list,
    ngx_str_t *key, ngx_uint_t caseless);
static ngx_int_t ngx_http_otel_keyval_add(ngx_array_t *list,
    ngx_str_t *key, ngx_str_t *value);

static ngx_int_t ngx_http_otel_init_process(ngx_cycle_t *cycle);
static void ngx_http_otel_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_otel_trace_context_values[] = {
    { ngx_string("ignore"), NGX_HTTP_OTEL_CONTEXT_IGNORE },
    { ngx_string("extract"), NGX_HTTP_OTEL_CONTEXT_EXTRACT },
    { ngx_string("inject"), NGX_HTTP_OTEL_CONTEXT_INJECT },
    { ngx_string("propagate"), NGX_HTTP_OTEL_CONTEXT_PROPAGATE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_otel_propagator_values[] = {
    { ngx_string("tracecontext"), NGX_HTTP_OTEL_PROP_TRACECONTEXT },
    { ngx_string("b3"), NGX_HTTP_OTEL_PROP_B3 },
    { ngx_string("b3multi"), NGX_HTTP_OTEL_PROP_B3MULTI },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_otel_sampler_values[] = {
    { ngx_string("always_on"), NGX_HTTP_OTEL_SAMPLER_ALWAYS_ON },
    { ngx_string("always_off"), NGX_HTTP_OTEL_SAMPLER_ALWAYS_OFF },
    { ngx_string("traceidratio"), NGX_HTTP_OTEL_SAMPLER_RATIO },
    { ngx_string("parentbased_always_on"),
      NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_ON },
    { ngx_string("parentbased_always_off"),
      NGX_HTTP_OTEL_SAMPLER_PARENT_ALWAYS_OFF },
    { ngx_string("parentbased_traceidratio"),
      NGX_HTTP_OTEL_SAMPLER_PARENT_RATIO },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_otel_protocol_values[] = {
    { ngx_string("grpc"), NGX_OTEL_PROTOCOL_GRPC },
    { ngx_string("http/protobuf"), NGX_OTEL_PROTOCOL_HTTP_PROTOBUF },
    { ngx_string("http/json"), NGX_OTEL_PROTOCOL_HTTP_JSON },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_otel_compression_values[] = {
    { ngx_string("none"), NGX_OTEL_COMPRESSION_NONE },
    { ngx_string("gzip"), NGX_OTEL_COMPRESSION_GZIP },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_otel_batch_size_bounds = {
    ngx_http_otel_exporter_bounds, 1, 65536
};


static ngx_conf_num_bounds_t  ngx_http_otel_batch_count_bounds = {
    ngx_http_otel_exporter_bounds, 1, 1024
};


/*
 * The sub-directives of "otel_exporter { }".  They are dispatched by
 * ngx_http_otel_exporter_block() with the exporter conf as "conf", so the
 * stock slots work on ngx_otel_exporter_conf_t fields; enums go through
 * ngx_http_otel_conf_enum() for an error that names the value.
 */

static ngx_command_t  ngx_http_otel_exporter_commands[] = {

    { ngx_string("endpoint"),
      NGX_CONF_TAKE1,
      ngx_http_otel_exporter_endpoint,
      0,
      0,
      NULL },

    { ngx_string("protocol"),
      NGX_CONF_TAKE1,
      NULL,
      0,
      offsetof(ngx_otel_exporter_conf_t, protocol),
      ngx_http_otel_protocol_values },

    { ngx_string("interval"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_otel_exporter_conf_t, interval),
      NULL },

    { ngx_string("batch_size"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_otel_exporter_conf_t, batch_size),
      &ngx_http_otel_batch_size_bounds },

    { ngx_string("batch_count"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_otel_exporter_conf_t, batch_count),
      &ngx_http_otel_batch_count_bounds },

    { ngx_string("zone_size"),
      NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      0,
      offsetof(ngx_otel_exporter_conf_t, zone_size),
      NULL },

    { ngx_string("timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_otel_exporter_conf_t, timeout),
      NULL },

    { ngx_string("compression"),
      NGX_CONF_TAKE1,
      NULL,
      0,
      offsetof(ngx_otel_exporter_conf_t, compression),
      ngx_http_otel_compression_values },

    { ngx_string("header"),
      NGX_CONF_TAKE2,
      ngx_http_otel_exporter_header,
      0,
      0,
      NULL },

    { ngx_string("trusted_certificate"),
      NGX_CONF_TAKE1,
      ngx_http_otel_exporter_trusted_certificate,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_command_t  ngx_http_otel_commands[] = {

    { ngx_string("otel_exporter"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_NOARGS,
      ngx_http_otel_exporter,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_service_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_otel_main_conf_t, service_name),
      NULL },

    { ngx_string("otel_resource_attr"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_otel_resource_attr,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_trace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_otel_trace,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_trace_context"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_otel_trace_context,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_propagators"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_otel_propagators,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_sampler"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_otel_sampler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_span_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_otel_loc_conf_t, span_name),
      NULL },

    { ngx_string("otel_span_attr"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_otel_span_attr,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("otel_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_otel_status,
      0,
      0,
      NULL },

    { ngx_string("otel_upstream_span"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_otel_loc_conf_t, upstream_span),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_otel_module_ctx = {
    ngx_http_otel_add_variables,           /* preconfiguration */
    ngx_http_otel_init,                    /* postconfiguration */

    ngx_http_otel_create_main_conf,        /* create main configuration */
    ngx_http_otel_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_otel_create_loc_conf,         /* create location configuration */
    ngx_http_otel_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_otel_module = {
    NGX_MODULE_V1,
    &ngx_http_otel_module_ctx,             /* module context */
    ngx_http_otel_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_otel_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_otel_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_otel_init_process(ngx_cycle_t *cycle)
{
    ngx_http_otel_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_otel_module);
    if (omcf == NULL) {
        return NGX_OK;
    }

    if (ngx_otel_random_init(cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (omcf->exporter == NULL) {
        return NGX_OK;
    }

    if (ngx_otel_stage_init(cycle, omcf->exporter) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_otel_exporter_init_process(cycle, omcf->exporter);
}


static void
ngx_http_otel_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_otel_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_otel_module);

    if (omcf != NULL && omcf->exporter != NULL) {
        ngx_otel_stage_flush(omcf->exporter);
        ngx_otel_exporter_exit_process(omcf->exporter);
    }
}


static void *
ngx_http_otel_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_otel_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_otel_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->exporter = NULL;
     *     omcf->service_name = { 0, NULL };
     *     omcf->resource_attrs = NULL;
     *     omcf->trace_file = { 0, NULL };
     *     omcf->trace_line = 0;
     *     omcf->upstream_span = 0;
     *     omcf->upstream_inits = { 0 };
     */

    return omcf;
}


static char *
ngx_http_otel_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_otel_main_conf_t *omcf = conf;

    if (omcf->trace_file.len && omcf->exporter == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"otel_trace\" is enabled in %V:%ui, "
                      "but no \"otel_exporter\" is configured",
                      &omcf->trace_file, omcf->trace_line);
        return NGX_CONF_ERROR;
    }

    if (omcf->exporter == NULL) {
        return NGX_CONF_OK;
    }

    if (ngx_http_otel_resource(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_otel_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_otel_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_otel_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     olcf->trace_value = NULL;
     *     olcf->propagators = { 0 };
     *     olcf->sampler_bound = 0;
     *     olcf->span_attrs = NULL;
     *     olcf->span_attrs_ours = 0;
     *     olcf->span_names = NULL;
     *     olcf->server = NULL;
     *     olcf->server_enabled = 0;
     */

    olcf->trace = NGX_CONF_UNSET_UINT;
    olcf->trace_context = NGX_CONF_UNSET_UINT;
    olcf->npropagators = NGX_CONF_UNSET_UINT;
    olcf->sampler = NGX_CONF_UNSET_UINT;
    olcf->span_name = NGX_CONF_UNSET_PTR;
    olcf->upstream_span = NGX_CONF_UNSET;

    return olcf;
}


static char *
ngx_http_otel_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_otel_loc_conf_t *prev = parent;
    ngx_http_otel_loc_conf_t *conf = child;

    ngx_http_otel_main_conf_t  *omcf;

    if (conf->trace == NGX_CONF_UNSET_UINT) {
        if (prev->trace == NGX_CONF_UNSET_UINT) {
            conf->trace = NGX_HTTP_OTEL_TRACE_OFF;

        } else {
            conf->trace = prev->trace;
            conf->trace_value = prev->trace_value;
        }
    }

    ngx_conf_merge_uint_value(conf->trace_context, prev->trace_context,
                              NGX_HTTP_OTEL_CONTEXT_IGNORE);

    if (conf->npropagators == NGX_CONF_UNSET_UINT) {
        if (prev->npropagators == NGX_CONF_UNSET_UINT) {
            conf->npropagators = 1;
            conf->propagators[0] = NGX_HTTP_OTEL_PROP_TRACECONTEXT;

        } else {
            conf->npropagators = prev->npropagators;
            ngx_memcpy(conf->propagators, prev->propagators,
                       sizeof(conf->propagators));
        }
    }

    if (conf->sampler == NGX_CONF_UNSET_UINT) {
        if (prev->sampler == NGX_CONF_UNSET_UINT) {
            conf->sampler = NGX_HTTP_OTEL_SAMPLER_ALWAYS_ON;

        } else {
            conf->sampler = prev->sampler;
            conf->sampler_bound = prev->sampler_bound;
        }
    }

    ngx_conf_merge_ptr_value(conf->span_name, prev->span_name, NULL);

    if (conf->span_name == NULL
        && conf->trace != NGX_HTTP_OTEL_TRACE_OFF
        && ngx_http_otel_span_names(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->span_attrs == NULL) {
        conf->span_attrs = prev->span_attrs;
        conf->span_attrs_ours = prev->span_attrs_ours;
    }

    ngx_conf_merge_value(conf->upstream_span, prev->upstream_span, 0);

    if (conf->upstream_span) {
        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_otel_module);
        omcf->upstream_span = 1;
    }

    /*
     * Parents are merged before their children, and the http{} level conf
     * is never merged into anything: the first conf without a server is a
     * server{}'s, and each conf tells its server whether it is enabled.
     */

    conf->server = prev->server ? prev->server : conf;

    if (conf->trace != NGX_HTTP_OTEL_TRACE_OFF
        || conf->trace_context != NGX_HTTP_OTEL_CONTEXT_IGNORE)
    {
        conf->server->server_enabled = 1;
    }

    return NGX_CONF_OK;
}


/*
 * "METHOD location" for each method of ngx_otel_otlp_consts[], made once
 * here rather than for each span; a span that ends in a location that
 * does not trace (after a redirect) has its name made then
 */

static ngx_int_t
ngx_http_otel_span_names(ngx_conf_t *cf, ngx_http_otel_loc_conf_t *olcf)
{
    u_char                    *p;
    ngx_uint_t                 i;
    ngx_str_t                 *name;
    ngx_http_core_loc_conf_t  *clcf;

    /* in the order of ngx_otel_otlp_const_e, then "HTTP" */

    static ngx_str_t  methods[] = {
        ngx_string("GET"),
        ngx_string("HEAD"),
        ngx_string("POST"),
        ngx_string("PUT"),
        ngx_string("DELETE"),
        ngx_string("OPTIONS"),
        ngx_string("PATCH"),
        ngx_string("HTTP")
    };

    /* merged with the location of its own core module conf */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    olcf->span_names = ngx_palloc(cf->pool,
                                  sizeof(methods) / sizeof(ngx_str_t)
                                  * sizeof(ngx_str_t));
    if (olcf->span_names == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(methods) / sizeof(ngx_str_t); i++) {
        name = &olcf->span_names[i];

        if (clcf->name.len == 0) {
            *name = methods[i];
            continue;
        }

        p = ngx_pnalloc(cf->pool, methods[i].len + 1 + clcf->name.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        name->data = p;
        p = ngx_cpymem(p, methods[i].data, methods[i].len);
        *p++ = ' ';
        p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
        name->len = p - name->data;
    }

    return NGX_OK;
}


static char *
ngx_http_otel_exporter(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_main_conf_t *omcf = conf;

    char                      *rv;
    ngx_conf_t                 save;
    ngx_otel_exporter_conf_t  *ecf;

    if (omcf->exporter != NULL) {
        return "is duplicate";
    }

    ecf = ngx_pcalloc(cf->pool, sizeof(ngx_otel_exporter_conf_t));
    if (ecf == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ecf->endpoint = { 0, NULL };
     *     ecf->file = NULL;
     *     ecf->url = { 0, NULL };
     *     ecf->tls = 0;
     *     ecf->headers = NULL;
     *     ecf->trusted_certificate = { 0, NULL };
     *     ecf->resource = NULL;
     *     ecf->shm_zone = NULL;
     */

    ecf->protocol = NGX_CONF_UNSET_UINT;
    ecf->interval = NGX_CONF_UNSET_MSEC;
    ecf->batch_size = NGX_CONF_UNSET_UINT;
    ecf->batch_count = NGX_CONF_UNSET_UINT;
    ecf->zone_size = NGX_CONF_UNSET_SIZE;
    ecf->timeout = NGX_CONF_UNSET_MSEC;
    ecf->compression = NGX_CONF_UNSET_UINT;

    save = *cf;
    cf->handler = ngx_http_otel_exporter_block;
    cf->handler_conf = (char *) ecf;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rv = ngx_http_otel_exporter_finish(cf, ecf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    omcf->exporter = ecf;

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_exporter_block(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    char           *rv;
    ngx_str_t      *value;
    ngx_uint_t      argc, *np;
    ngx_command_t  *cmd;

    value = cf->args->elts;
    argc = cf->args->nelts - 1;

    for (cmd = ngx_http_otel_exporter_commands; cmd->name.len; cmd++) {

        if (cmd->name.len != value[0].len
            || ngx_strcmp(cmd->name.data, value[0].data) != 0)
        {
            continue;
        }

        if (((cmd->type & NGX_CONF_TAKE1) && argc != 1)
            || ((cmd->type & NGX_CONF_TAKE2) && argc != 2))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" "
                               "of \"otel_exporter\"", &value[0]);
            return NGX_CONF_ERROR;
        }

        if (cmd->set == NULL) {
            np = (ngx_uint_t *) ((char *) conf + cmd->offset);

            if (*np != NGX_CONF_UNSET_UINT) {
                goto duplicate;
            }

            return ngx_http_otel_conf_enum(cf, &value[1], cmd->post, np);
        }

        rv = cmd->set(cf, cmd, conf);

        if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
            return rv;
        }

        if (ngx_strcmp(rv, "is duplicate") == 0) {
            goto duplicate;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" value \"%V\" in \"otel_exporter\": "
                           "%s", &value[0], &value[argc], rv);

        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in \"otel_exporter\"",
                       &value[0]);

    return NGX_CONF_ERROR;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" \"%V\" is duplicate in \"otel_exporter\"",
                       &value[0], &value[argc]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_otel_exporter_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_otel_exporter_conf_t *ecf = conf;

    ngx_str_t  *value;

    if (ecf->endpoint.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "is empty";
    }

    ecf->endpoint = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_exporter_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_otel_exporter_conf_t *ecf = conf;

    ngx_str_t     *value;
    ngx_keyval_t  *kv;

    value = cf->args->elts;

    if (ngx_otel_header_name_valid(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"header\" name \"%V\" in "
                           "\"otel_exporter\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_otel_header_value_valid(&value[2]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value of header \"%V\" in \"header\" "
                           "of \"otel_exporter\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ecf->headers == NULL) {
        ecf->headers = ngx_array_create(cf->pool, 4, sizeof(ngx_keyval_t));
        if (ecf->headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(ecf->headers);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_exporter_trusted_certificate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf)
{
    ngx_otel_exporter_conf_t *ecf = conf;

    ngx_str_t        *value;
    ngx_file_info_t   fi;

    if (ecf->trusted_certificate.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ecf->trusted_certificate = value[1];

    if (ngx_conf_full_name(cf->cycle, &ecf->trusted_certificate, 1)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* curl reads it at export time; an unreadable file is a config error */

    if (ngx_file_info(ecf->trusted_certificate.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || access((char *) ecf->trusted_certificate.data, R_OK) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"trusted_certificate\" file \"%V\" "
                           "in \"otel_exporter\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ngx_conf_check_num_bounds() would not name the directive nor the value */

static char *
ngx_http_otel_exporter_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *bounds = post;
    ngx_int_t              *np = data;

    ngx_str_t  *value;

    if (*np >= bounds->low && *np <= bounds->high) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\" value \"%V\" in \"otel_exporter\": "
                       "must be between %i and %i",
                       &value[0], &value[1], bounds->low, bounds->high);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_otel_exporter_finish(ngx_conf_t *cf, ngx_otel_exporter_conf_t *ecf)
{
    char                 *rv;
    ngx_str_t             name;
    ngx_otel_zone_ctx_t  *zctx;

    if (ecf->endpoint.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"otel_exporter\" requires \"endpoint\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(ecf->protocol, NGX_CONF_UNSET_UINT,
                              NGX_OTEL_PROTOCOL_GRPC);
    ngx_conf_merge_msec_value(ecf->interval, NGX_CONF_UNSET_MSEC, 5000);
    ngx_conf_merge_uint_value(ecf->batch_size, NGX_CONF_UNSET_UINT, 512);
    ngx_conf_merge_uint_value(ecf->batch_count, NGX_CONF_UNSET_UINT, 4);
    ngx_conf_merge_size_value(ecf->zone_size, NGX_CONF_UNSET_SIZE,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(ecf->timeout, NGX_CONF_UNSET_MSEC, 10000);
    ngx_conf_merge_uint_value(ecf->compression, NGX_CONF_UNSET_UINT,
                              NGX_OTEL_COMPRESSION_NONE);

    if (ecf->interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"interval\" value \"0\" in "
                           "\"otel_exporter\": must be positive");
        return NGX_CONF_ERROR;
    }

    if (ecf->timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"timeout\" value \"0\" in "
                           "\"otel_exporter\": must be positive");
        return NGX_CONF_ERROR;
    }

    if (ecf->zone_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zone_size\" %uz in \"otel_exporter\" is too "
                           "small, the minimum is %uz",
                           ecf->zone_size, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_otel_exporter_url(cf, ecf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_otel_env_headers(cf, ecf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    zctx = ngx_otel_shm_create(cf,
                               ecf->file == NULL
                               && ecf->protocol != NGX_OTEL_PROTOCOL_HTTP_JSON
                               && ecf->compression
                                  != NGX_OTEL_COMPRESSION_GZIP);
    if (zctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, NGX_HTTP_OTEL_ZONE_NAME);

    ecf->shm_zone = ngx_shared_memory_add(cf, &name, ecf->zone_size,
                                          &ngx_http_otel_module);
    if (ecf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ecf->shm_zone->init = ngx_otel_shm_init_zone;
    ecf->shm_zone->data = zctx;
    ecf->shm_zone->noreuse = 0;

    return NGX_CONF_OK;
}


/* the endpoint's file, or the URL curl is given (ngx_otel_conf_value.c) */

static char *
ngx_http_otel_exporter_url(ngx_conf_t *cf, ngx_otel_exporter_conf_t *ecf)
{
    u_char               *p;
    const char           *err;
    ngx_otel_endpoint_t   ep;

    if (ngx_otel_endpoint_parse(&ecf->endpoint,
                                ecf->protocol == NGX_OTEL_PROTOCOL_GRPC,
                                &ep, &err)
        != NGX_OK)
    {
        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"endpoint\" value \"%V\" in "
                               "\"otel_exporter\": %s",
                               &ecf->endpoint, err);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"endpoint\" value \"%V\" in "
                               "\"otel_exporter\"", &ecf->endpoint);
        }

        return NGX_CONF_ERROR;
    }

    if (ep.file.len) {
        ecf->file = ngx_conf_open_file(cf->cycle, &ep.file);
        if (ecf->file == NULL) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    ecf->tls = ep.tls;

    /* curl takes a C string */

    ecf->url.len = ngx_otel_endpoint_url_len(&ep);

    ecf->url.data = ngx_pnalloc(cf->pool, ecf->url.len + 1);
    if (ecf->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_otel_endpoint_url(ecf->url.data, &ep);
    *p = '\0';

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_resource_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_main_conf_t *omcf = conf;

    ngx_str_t     *value;
    ngx_keyval_t  *kv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty attribute name in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (omcf->resource_attrs == NULL) {
        omcf->resource_attrs = ngx_array_create(cf->pool, 4,
                                                sizeof(ngx_keyval_t));
        if (omcf->resource_attrs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(omcf->resource_attrs);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_trace(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_loc_conf_t *olcf = conf;

    ngx_str_t                          *value;
    ngx_http_otel_main_conf_t          *omcf;
    ngx_http_compile_complex_value_t    ccv;

    if (olcf->trace != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        olcf->trace = NGX_HTTP_OTEL_TRACE_OFF;
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_otel_module);
    omcf->enabled = 1;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        olcf->trace = NGX_HTTP_OTEL_TRACE_ON;

    } else {
        if (ngx_http_script_variables_count(&value[1]) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive, "
                               "it must be \"on\", \"off\" or a variable",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }

        olcf->trace_value = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
        if (olcf->trace_value == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[1];
        ccv.complex_value = olcf->trace_value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        olcf->trace = NGX_HTTP_OTEL_TRACE_VARIABLE;
    }

    if (omcf->trace_file.len == 0) {
        omcf->trace_file = cf->conf_file->file.name;
        omcf->trace_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_trace_context(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_loc_conf_t *olcf = conf;

    ngx_str_t                  *value;
    ngx_http_otel_main_conf_t  *omcf;

    if (olcf->trace_context != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_otel_conf_enum(cf, &value[1],
                                ngx_http_otel_trace_context_values,
                                &olcf->trace_context)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (olcf->trace_context != NGX_HTTP_OTEL_CONTEXT_IGNORE) {
        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_otel_module);
        omcf->enabled = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_propagators(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_loc_conf_t *olcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   bad;

    if (olcf->npropagators != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_otel_enum_list(&value[1], cf->args->nelts - 1,
                            ngx_http_otel_propagator_values,
                            NGX_HTTP_OTEL_PROP_MAX, olcf->propagators, &bad);

    switch (rc) {

    case NGX_OK:
        olcf->npropagators = cf->args->nelts - 1;
        return NGX_CONF_OK;

    case NGX_OTEL_LIST_INVALID:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           &value[1 + bad], &cmd->name);
        break;

    case NGX_OTEL_LIST_DUPLICATE:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate value \"%V\" in \"%V\" directive",
                           &value[1 + bad], &cmd->name);
        break;

    default: /* NGX_OTEL_LIST_TOO_MANY */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many values in \"%V\" directive",
                           &cmd->name);
    }

    return NGX_CONF_ERROR;
}


static char *
ngx_http_otel_sampler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_loc_conf_t *olcf = conf;

    double       ratio;
    ngx_str_t   *value;
    ngx_uint_t   sampler;

    if (olcf->sampler != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_otel_conf_enum(cf, &value[1], ngx_http_otel_sampler_values,
                                &sampler)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (sampler != NGX_HTTP_OTEL_SAMPLER_RATIO
        && sampler != NGX_HTTP_OTEL_SAMPLER_PARENT_RATIO)
    {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes no ratio in \"%V\" directive",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }

        olcf->sampler = sampler;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires a ratio in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* a configuration word ends in '\0', as the parser requires */

    if (ngx_otel_ratio_parse(&value[2], &ratio) == NGX_OK) {
        olcf->sampler = sampler;
        olcf->sampler_bound = ngx_otel_ratio_bound(ratio);

        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid ratio \"%V\" in \"%V\" directive, "
                       "it must be a number between 0 and 1",
                       &value[2], &cmd->name);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_otel_span_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_otel_loc_conf_t *olcf = conf;

    ngx_int_t                           n;
    ngx_str_t                          *value, name;
    ngx_uint_t                          i;
    ngx_otel_value_part_t               parts[NGX_HTTP_OTEL_VALUE_PARTS];
    ngx_http_otel_span_attr_t          *attr;
    ngx_http_compile_complex_value_t    ccv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty attribute name in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (olcf->span_attrs == NULL) {
        olcf->span_attrs = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_http_otel_span_attr_t));
        if (olcf->span_attrs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* a span has unique keys: a repeated name replaces the earlier value */

    attr = olcf->span_attrs->elts;

    for (i = 0; i < olcf->span_attrs->nelts; i++) {
        if (attr[i].name.len == value[1].len
            && ngx_strncmp(attr[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            break;
        }
    }

    if (i < olcf->span_attrs->nelts) {
        attr = &attr[i];

    } else {
        attr = ngx_array_push(olcf->span_attrs);
        if (attr == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    attr->name = value[1];

    /* and a name the module sets itself overrides the module's value */

    for (attr->id = 0; attr->id < NGX_OTEL_ATTR_KNOWN; attr->id++) {
        if (ngx_otel_attr_names[attr->id].len == value[1].len
            && ngx_strncmp(ngx_otel_attr_names[attr->id].data, value[1].data,
                           value[1].len)
               == 0)
        {
            break;
        }
    }

    if (attr->id == NGX_OTEL_ATTR_KNOWN) {
        attr->id = NGX_OTEL_ATTR_CUSTOM;

        /* written whole on the request path, key and all, at once */

        (void) ngx_otel_otlp_head(&attr->head, &attr->name);

    } else {
        attr->head.len = 0;
        olcf->span_attrs_ours = 1;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &attr->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * "$name" alone is read as the variable it is, without the script
     * engine: the same value, a tenth of the instructions
     */

    attr->index = NGX_ERROR;
    attr->parts = NULL;
    attr->nparts = 0;

    if (ngx_otel_variable_name(&value[2], &name) == NGX_OK) {
        attr->index = ngx_http_get_variable_index(cf, &name);
        if (attr->index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* text and variables: put together directly, about a fifth as dear */

    n = ngx_otel_value_split(&value[2], parts, NGX_HTTP_OTEL_VALUE_PARTS);

    if (n == NGX_DECLINED) {
        /* the script engine's */
        return NGX_CONF_OK;
    }

    for (i = 0; i < (ngx_uint_t) n; i++) {
        if (parts[i].variable) {
            break;
        }
    }

    if (i == (ngx_uint_t) n) {
        /* no variable at all: the complex value is a constant */
        return NGX_CONF_OK;
    }

    attr->parts = ngx_palloc(cf->pool, n * sizeof(ngx_http_otel_value_part_t));
    if (attr->parts == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < (ngx_uint_t) n; i++) {
        attr->parts[i].text = parts[i].text;
        attr->parts[i].index = NGX_ERROR;

        if (parts[i].variable) {
            attr->parts[i].index = ngx_http_get_variable_index(cf,
                                                             &parts[i].text);
            if (attr->parts[i].index == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }
        }
    }

    attr->nparts = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_otel_conf_enum(ngx_conf_t *cf, ngx_str_t *value, ngx_conf_enum_t *e,
    ngx_uint_t *out)
{
    ngx_str_t  *args;

    if (ngx_otel_enum_find(value, e, out) == NGX_OK) {
        return NGX_CONF_OK;
    }

    args = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       value, &args[0]);

    return NGX_CONF_ERROR;
}


/*
 * The resource every exported span carries.  Directives win over the
 * environment, and within it OTEL_SERVICE_NAME over the service.name of
 * OTEL_RESOURCE_ATTRIBUTES, as the OpenTelemetry SDKs do.
 */

static ngx_int_t
ngx_http_otel_resource(ngx_conf_t *cf, ngx_http_otel_main_conf_t *omcf)
{
    char          *env;
    ngx_int_t      n;
    ngx_str_t      key, name, version, sdk;
    ngx_uint_t     i;
    ngx_array_t   *res, envattrs;
    ngx_keyval_t  *kv;

    res = ngx_array_create(cf->pool, 8, sizeof(ngx_keyval_t));
    if (res == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&envattrs, cf->temp_pool, 4, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_otel_env_list(cf, "OTEL_RESOURCE_ATTRIBUTES", 0, &envattrs)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * service.name: otel_service_name, otel_resource_attr service.name,
     * OTEL_SERVICE_NAME, service.name in OTEL_RESOURCE_ATTRIBUTES, default
     */

    ngx_str_set(&key, "service.name");

    name = omcf->service_name;

    if (name.data == NULL) {
        n = ngx_http_otel_keyval_find(omcf->resource_attrs, &key, 0);

        if (n != NGX_ERROR) {
            name = ((ngx_keyval_t *) omcf->resource_attrs->elts)[n].value;
        }
    }

    if (name.data == NULL) {
        env = getenv("OTEL_SERVICE_NAME");

        if (env != NULL && *env != '\0') {
            name.data = (u_char *) env;
            name.len = ngx_strlen(env);
        }
    }

    if (name.data == NULL) {
        n = ngx_http_otel_keyval_find(&envattrs, &key, 0);

        if (n != NGX_ERROR) {
            name = ((ngx_keyval_t *) envattrs.elts)[n].value;

        } else {
            ngx_str_set(&name, NGX_HTTP_OTEL_DEFAULT_SERVICE_NAME);
        }
    }

    if (ngx_http_otel_keyval_add(res, &key, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    /* then directives, our own telemetry.sdk.*, the environment: the first
     * of a key wins, so that the resource has no duplicate keys */

    if (omcf->resource_attrs) {
        kv = omcf->resource_attrs->elts;

        for (i = 0; i < omcf->resource_attrs->nelts; i++) {
            if (ngx_http_otel_keyval_add(res, &kv[i].key, &kv[i].value)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ngx_str_set(&key, "telemetry.sdk.name");
    ngx_str_set(&sdk, "ngx_otel_module");

    if (ngx_http_otel_keyval_add(res, &key, &sdk) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&key, "telemetry.sdk.version");
    ngx_str_set(&version, NGX_OTEL_VERSION);

    if (ngx_http_otel_keyval_add(res, &key, &version) != NGX_OK) {
        return NGX_ERROR;
    }

    kv = envattrs.elts;

    for (i = 0; i < envattrs.nelts; i++) {
        if (ngx_http_otel_keyval_add(res, &kv[i].key, &kv[i].value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    omcf->exporter->resource = res;

    return NGX_OK;
}


static ngx_int_t
ngx_http_otel_env_headers(ngx_conf_t *cf, ngx_otel_exporter_conf_t *ecf)
{
    ngx_uint_t     i;
    ngx_array_t    env;
    ngx_keyval_t  *kv, *h;

    if (ngx_array_init(&env, cf->temp_pool, 4, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_otel_env_list(cf, "OTEL_EXPORTER_OTLP_HEADERS", 1, &env)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (env.nelts == 0) {
        return NGX_OK;
    }

    if (ecf->headers == NULL) {
        ecf->headers = ngx_array_create(cf->pool, env.nelts,
                                        sizeof(ngx_keyval_t));
        if (ecf->headers == NULL) {
            return NGX_ERROR;
        }
    }

    kv = env.elts;

    for (i = 0; i < env.nelts; i++) {
        if (ngx_http_otel_keyval_find(ecf->headers, &kv[i].key, 1)
            != NGX_ERROR)
        {
            continue;
        }

        h = ngx_array_push(ecf->headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        /* env strings live as long as the process; copy for the cycle */

        h->key.data = ngx_pstrdup(cf->pool, &kv[i].key);
        h->key.len = kv[i].key.len;
        h->value.data = ngx_pstrdup(cf->pool, &kv[i].value);
        h->value.len = kv[i].value.len;

        if (h->key.data == NULL || h->value.data == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * "key1=value1,key2=value2" with percent-encoded values (the W3C baggage
 * octet rules the OpenTelemetry SDKs apply).  As in the SDKs, a malformed
 * variable is ignored as a whole, with a warning; for headers, so is one
 * with a name or a decoded value that could not be sent as a header.
 */

static ngx_int_t
ngx_http_otel_env_list(ngx_conf_t *cf, const char *name, ngx_uint_t headers,
    ngx_array_t *list)
{
    char          *env;
    u_char        *p, *last, *dst;
    ngx_int_t      rc;
    ngx_str_t      key, raw, val;
    ngx_keyval_t  *kv;

    env = getenv(name);
    if (env == NULL || *env == '\0') {
        return NGX_OK;
    }

    p = (u_char *) env;
    last = p + ngx_strlen(env);

    for ( ;; ) {
        rc = ngx_otel_keyval_next(&p, last, &key, &raw);

        if (rc == NGX_DONE) {
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            goto invalid;
        }

        dst = ngx_pnalloc(cf->pool, raw.len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        if (ngx_otel_percent_decode(&raw, dst, &val) != NGX_OK) {
            goto invalid;
        }

        if (headers
            && (ngx_otel_header_name_valid(&key) != NGX_OK
                || ngx_otel_header_value_valid(&val) != NGX_OK))
        {
            goto invalid;
        }

        kv = ngx_array_push(list);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key.data = ngx_pstrdup(cf->pool, &key);
        if (kv->key.data == NULL) {
            return NGX_ERROR;
        }

        kv->key.len = key.len;
        kv->value = val;
    }

invalid:

    if (headers) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ignoring malformed %s environment variable "
                           "(its value may hold credentials: not shown)",
                           name);

    } else {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ignoring malformed %s environment variable "
                           "\"%s\"", name, env);
    }

    list->nelts = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_otel_keyval_find(ngx_array_t *list, ngx_str_t *key,
    ngx_uint_t caseless)
{
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (list == NULL) {
        return NGX_ERROR;
    }

    kv = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (kv[i].key.len != key->len) {
            continue;
        }

        if (caseless
            ? ngx_strncasecmp(kv[i].key.data, key->data, key->len) == 0
            : ngx_strncmp(kv[i].key.data, key->data, key->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_otel_keyval_add(ngx_array_t *list, ngx_str_t *key, ngx_str_t *value)
{
    ngx_keyval_t  *kv;

    if (ngx_http_otel_keyval_find(list, key, 0) != NGX_ERROR) {
        return NGX_OK;
    }

    kv = ngx_array_push(list);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    kv->key = *key;
    kv->value = *value;

    return NGX_OK;
}
