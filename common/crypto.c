/* crypto: placeholder until implemented. */
