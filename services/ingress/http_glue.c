/* http_glue: placeholder until implemented. */
