namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>An operations page: its slug (<c>{prefix}/ops/{slug}</c>, <c>{prefix}/api/ops/{slug}</c>) and title.</summary>
sealed record OperationsPageLink(string Slug, string Title);
