/* metrics: placeholder until implemented. */
