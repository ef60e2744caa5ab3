/* webhook_receipt: placeholder until implemented. */
