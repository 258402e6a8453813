namespace MassTransit.Patterns.Watch;

/// <summary>The watch source refused a registration (a key outside its allowed prefixes, too long, ...).</summary>
public sealed class WatchRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WatchRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public WatchRejectedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public WatchRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
