using Tugboat.Cli;

return await CommandLine.RunAsync(args).ConfigureAwait(false);
