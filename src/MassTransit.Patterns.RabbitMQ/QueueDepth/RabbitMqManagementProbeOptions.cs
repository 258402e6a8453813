using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.RabbitMQ.QueueDepth;

/// <summary>Where and how the management API probe connects. Credentials come from configuration.</summary>
public sealed class RabbitMqManagementProbeOptions : IPatternOptions
{
    /// <summary>The management API's base address. Default <c>http://localhost:15672/</c>.</summary>
    public Uri BaseAddress { get; set; } = new("http://localhost:15672/");

    /// <summary>The virtual host. Default <c>/</c>.</summary>
    public string VirtualHost { get; set; } = "/";

    /// <summary>The user name (needs the management or monitoring tag).</summary>
    public string UserName { get; set; } = "guest";

    /// <summary>The password; never logged.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>The timeout of one HTTP request. Default 5 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .NotNull(BaseAddress, nameof(BaseAddress))
        .Require(BaseAddress is null || (BaseAddress.IsAbsoluteUri && (BaseAddress.Scheme == Uri.UriSchemeHttp || BaseAddress.Scheme == Uri.UriSchemeHttps)),
            nameof(BaseAddress), $"must be an absolute http or https address (was '{BaseAddress}').")
        .NotEmpty(VirtualHost, nameof(VirtualHost))
        .NotEmpty(UserName, nameof(UserName))
        .Positive(RequestTimeout, nameof(RequestTimeout));
}
