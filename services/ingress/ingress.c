/* ingress: placeholder until implemented. */
