using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Ambulance;

static partial class AmbulanceLog
{
    [LoggerMessage(EventId = 5002, Level = LogLevel.Information,
        Message = "{Pattern} from the configuration of {Queue} does not apply to its lane {Lane}: the lane's concurrency is its own ({LaneConcurrency} slots)")]
    public static partial void SteppedAside(ILogger logger, string pattern, string lane, string queue, int laneConcurrency);
}
