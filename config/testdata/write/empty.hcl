# nothing configured

