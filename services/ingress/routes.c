/* routes: placeholder until implemented. */
