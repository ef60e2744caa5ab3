/* webhook_auth: placeholder until implemented. */
